# Quality gates of the collection; included by the top-level Makefile, which
# defines VENV (and PYTHON). Each target is also a plain script under tools/.
# Targets carry their help as `target:  ## text`, as in the Makefile (`make help`).
VENV ?= $(HOME)/.cache/aio-venv-test
PYTHON ?= $(VENV)/bin/python
QUALITY_ENV = VENV="$(VENV)" PATH="$(VENV)/bin:$$PATH"

.PHONY: sanity lint docs-check collection-link

sanity:  ## ansible-test sanity (Python 3.11) on the built and installed collection; shellcheck, pyflakes, yamllint on checkout-only files
	$(QUALITY_ENV) tools/sanity.sh $(SANITY_ARGS)

lint:  ## ansible-lint, production profile, over the collection via the collection link
	$(QUALITY_ENV) tools/lint.sh $(LINT_ARGS)

docs-check:  ## build and install the collection, render every plugin's and role's docs with ansible-doc
	$(QUALITY_ENV) tools/docs-check.sh

collection-link:  ## link the checkout into ~/.cache/aio-collections, print the path to use
	@tools/collection-link.sh

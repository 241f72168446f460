# The two commands that do all the set-up on a fresh machine:
#   make demo   venv + install + the method on the three toy models -> demo/demo.png
#   make test   venv + install with test extras (+ Chromium) + the whole suite
VENV ?= .venv
export VENV

.PHONY: demo test setup setup-test clean

setup:
	bash scripts/setup-venv.sh

setup-test:
	bash scripts/setup-venv.sh test,realmodel
	bash scripts/install-chromium.sh

demo: setup
	$(VENV)/bin/layerdream demo --out demo

test: setup-test
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider --durations=15; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

clean:
	rm -rf $(VENV) demo out

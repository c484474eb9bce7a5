# Shortcuts for the README's two commands (scripts/run.sh and scripts/test.sh).
.PHONY: run test setup

run:
	bash scripts/run.sh

test:
	bash scripts/test.sh

setup:
	bash scripts/setup.sh

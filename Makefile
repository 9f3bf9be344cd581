# Shortcuts for `./run`, the project's entry point (README, CI).
.PHONY: serve test bench
serve:
	./run serve
test:
	./run test
bench:
	./run bench $(BENCH_ARGS)

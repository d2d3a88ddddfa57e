# lbfo: the two commands README.md shows are `make demo` and `make check`.
# Each works alone on a fresh Debian 12 machine as root: it installs what
# it needs (scripts/setup) and builds first.

BUILD ?= build

.PHONY: all setup build check demo bench clean

all: build

setup:
	@./scripts/setup

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: setup $(BUILD)/build.ninja
	ninja -C $(BUILD)

check: build
	./scripts/check

demo: build
	./scripts/demo

bench: build
	./bench/run

clean:
	rm -rf build build-asan

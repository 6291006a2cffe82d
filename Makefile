# The two commands of README.md. Both install what is missing, configure and
# build; `make test` then runs the whole ctest suite.
BUILD ?= build
BUILD_ASAN ?= build-asan
JOBS ?= $(shell nproc)
DEB_PACKAGES = build-essential cmake pkg-config libuv1-dev libraft-dev \
	liblmdb-dev lmdb-utils libmsgpack-dev libsodium-dev libcmocka-dev \
	libinih-dev clang clang-14 libclang-rt-14-dev clang-format \
	python3 iproute2 iptables nftables gnuplot-nox faketime \
	libnetfilter-queue-dev
CMAKE_FLAGS ?=
ifeq ($(CI),true)
CMAKE_FLAGS += -DRZ_WERROR=ON
# Tests the README names as long-running carry the ctest label "long".
CTEST_FLAGS ?= -LE long
endif

.PHONY: all deps configure build test test-asan run jepsen clean install

all: build

deps:
	@./tools/install-deps.sh $(DEB_PACKAGES)

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

configure: deps
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_FLAGS)

# The address/undefined sanitizer build of the unit and sim suites.
test-asan: deps
	cmake -S . -B $(BUILD_ASAN) -DRZ_SANITIZE=address,undefined $(CMAKE_FLAGS)
	cmake --build $(BUILD_ASAN) -j $(JOBS)
	cd $(BUILD_ASAN) && ctest --output-on-failure -j $(JOBS) -L 'unit|sim' $(CTEST_FLAGS)

run: build
	@./tools/run-local.sh $(BUILD)

# The fixed Jepsen-style suite (jepsen/README.md): every nemesis alone and
# all combined, 5 nodes, cases workload, 5 minutes each (~45 minutes; root,
# network namespaces). Results under jepsen/results/suite-<time>/.
jepsen: build
	/usr/bin/python3 jepsen/suite --build $(BUILD)

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)

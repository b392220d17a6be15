# eptrace build. Outputs live in build/.
CLANG ?= clang
CC ?= cc
BPFTOOL ?= bpftool
LLVM_STRIP ?= llvm-strip
ARCH := x86
OUT := build
# One set of BPF programs each: bpf/<backend>/backend.bpf.c
BACKENDS := tracepoint trampoline
VMLINUX := vmlinux/$(ARCH)

# -flto: the per-record path crosses files (decode, names, aggregate)
CFLAGS ?= -O2 -g -flto=auto
WARN := -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers
INCLUDES := -I$(OUT) -Ibpf -Iuser
LIBS := -Wl,-Bstatic -lbpf -lelf -lz -lsqlite3 -Wl,-Bdynamic -lmicrohttpd -lpthread -ldl -lm

# Userspace by layer, lowest first (make layering checks that no file
# includes a header of a layer above its own; README.md, "Layout").
AGG_SRC := $(addprefix user/agg/,decode.c hist.c hash.c agg.c agg_ns.c agg_series.c tw_resolver.c identity.c)
CONFIG_SRC := user/config/options.c
HOST_SRC := $(addprefix user/host/,netns.c sockdiag.c owners.c namer.c)
OUTPUT_SRC := $(addprefix user/output/,format.c format_agg.c view.c metrics.c exporter.c)
RECORDING_SRC := $(addprefix user/recording/,layout.c recorder.c store.c)
KERNEL_SRC := $(addprefix user/kernel/,caps.c preempt.c loader.c tracepoint.c trampoline.c stats.c tables.c \
	mapped.c)
FLOW_SRC := $(addprefix user/,pipeline.c probe.c report.c main.c)

# What the unit tests link: no kernel, no SQLite, no HTTP.
USER_LIB_SRC := $(AGG_SRC) $(CONFIG_SRC) user/host/netns.c $(addprefix user/output/,format.c format_agg.c view.c metrics.c) \
	user/recording/layout.c user/pipeline.c user/kernel/preempt.c
USER_SRC := $(AGG_SRC) $(CONFIG_SRC) $(HOST_SRC) $(OUTPUT_SRC) $(RECORDING_SRC) $(KERNEL_SRC) $(FLOW_SRC)
userobj = $(patsubst user/%.c,$(OUT)/user/%.o,$(1))
USER_OBJ := $(call userobj,$(USER_SRC))
USER_LIB_OBJ := $(call userobj,$(USER_LIB_SRC))
UNIT_TESTS := $(patsubst tests/unit/%.c,$(OUT)/tests/%,$(wildcard tests/unit/test_*.c))

PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
UNITDIR ?= /etc/systemd/system

.PHONY: all clean test unit integration vmtest peers sanitize fuzz fuzz-short fuzz-build soak valgrind deps install uninstall bench \
	layering help
all: $(OUT)/eptrace $(OUT)/tests/workload $(OUT)/tests/busy_namespaces $(OUT)/bench/churn \
	$(foreach b,$(BACKENDS),$(OUT)/bench/floor-$(b)) $(OUT)/bench/floor-trampoline-ceiling

$(OUT):
	mkdir -p $(OUT) $(OUT)/tests

# BPF: one compilation unit per backend (bpf/<backend>/backend.bpf.c), one
# skeleton; -MMD -MP: editing any header it includes rebuilds it.
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -I$(VMLINUX) -Ibpf \
	-Wall -Wextra -Wno-unused-parameter -MMD -MP
-include $(wildcard $(OUT)/*.bpf.d $(OUT)/bench/*/*.d)

.SECONDARY: $(foreach b,$(BACKENDS) trampoline-ceiling,$(OUT)/$(b).bpf.o \
	$(addprefix $(OUT)/bench/$(b)/,floor.bpf.c floor.bpf.o floor.skel.h))

$(OUT)/%.bpf.o: bpf/%/backend.bpf.c | $(OUT)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@
	$(LLVM_STRIP) -g $@

$(OUT)/%.skel.h: $(OUT)/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $*_bpf > $@

$(OUT)/user/kernel/tracepoint.o: $(OUT)/tracepoint.skel.h
$(OUT)/user/kernel/trampoline.o: $(OUT)/trampoline.skel.h

# -MMD -MP: each object's header dependencies, read back below.
$(OUT)/user/%.o: user/%.c | $(OUT)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(INCLUDES) -MMD -MP -c $< -o $@

$(OUT)/eptrace: $(USER_OBJ)
	$(CC) $(CFLAGS) $^ $(LIBS) -o $@

$(OUT)/tests/workload: tests/integration/workload.c | $(OUT)
	$(CC) $(CFLAGS) $(WARN) $< -o $@

$(OUT)/tests/busy_namespaces: tests/integration/busy_namespaces.c | $(OUT)
	$(CC) $(CFLAGS) $(WARN) $< -o $@

# Their dependency files go apart: scripts run every build/tests/test_*.
$(OUT)/tests/test_%: tests/unit/test_%.c $(USER_LIB_OBJ) | $(OUT)
	@mkdir -p $(OUT)/deps
	$(CC) $(CFLAGS) $(WARN) $(INCLUDES) -Itests/unit -MMD -MP -MF $(OUT)/deps/test_$*.d $< \
		$(USER_LIB_OBJ) -lz -lm -o $@

unit: $(UNIT_TESTS)
	@fail=0; for t in $(UNIT_TESTS); do $$t || fail=1; done; exit $$fail

$(OUT)/bench/churn: bench/churn.c
	mkdir -p $(OUT)/bench
	$(CC) $(CFLAGS) $(WARN) $< -o $@

# The benchmark's floors, one per backend: its attach points with programs
# that do nothing. floor_gen.py writes the headers it read to floor.bpf.c.d.
$(OUT)/bench/%/floor.bpf.c: bpf/%/backend.bpf.c bench/floor_gen.py
	mkdir -p $(@D)
	/usr/bin/python3 bench/floor_gen.py $< $@ --deps $@.d

# The ceiling: the trampoline floor with a bare record per event (bench/ceiling.bpf.h).
$(OUT)/bench/trampoline-ceiling/floor.bpf.c: bpf/trampoline/backend.bpf.c bench/floor_gen.py \
		bench/ceiling.bpf.h
	mkdir -p $(@D)
	/usr/bin/python3 bench/floor_gen.py $< $@ --with bench/ceiling.bpf.h --deps $@.d

$(OUT)/bench/%/floor.bpf.o: $(OUT)/bench/%/floor.bpf.c
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@
	$(LLVM_STRIP) -g $@

$(OUT)/bench/%/floor.skel.h: $(OUT)/bench/%/floor.bpf.o
	$(BPFTOOL) gen skeleton $< name floor_bpf > $@

$(OUT)/bench/floor-%: bench/floor.c $(OUT)/bench/%/floor.skel.h
	$(CC) $(CFLAGS) $(WARN) -I$(OUT)/bench/$* -Ibpf $< -Wl,-Bstatic -lbpf -lelf -lz -Wl,-Bdynamic -o $@

# Ten minutes of mixed churn on every core: nothing lost, counts exact, memory flat.
SOAK_MINUTES ?= 10
soak: all
	/usr/bin/python3 tests/soak.py --minutes $(SOAK_MINUTES)

# Not a test: measures overhead side by side and writes BENCHMARKS.md.
# VM=1: inside Debian 12's kernel under qemu -icount, one vCPU (instructions,
# not seconds: repeatable to about 1%), with libbpf-tools as further peers.
bench: all
	@command -v bpftrace >/dev/null && [ -x /usr/sbin/bindsnoop ] && command -v nginx >/dev/null && \
		command -v wrk >/dev/null || ./scripts/setup.sh --bench
ifeq ($(VM),1)
	@command -v qemu-system-x86_64 >/dev/null || ./scripts/setup.sh --vm
	rm -f $(OUT)/bench-guest.jsonl
	tests/vm/vmtest.sh --kernel $(KERNEL) --icount --smp 1 --mem 2048 --timeout $(VM_TIMEOUT) \
		--collect bench.jsonl:$(OUT)/bench-guest.jsonl -- \
		/usr/bin/python3 bench/run.py --vm --no-write --log /vmresults/bench.jsonl $(BENCH_ARGS)
	/usr/bin/python3 bench/run.py --render $(OUT)/bench-guest.jsonl --section guest
else
	/usr/bin/python3 bench/run.py $(BENCH_ARGS)
endif

# The unit and integration suites inside Debian 12's own kernel (KERNEL=amd64
# or rt-amd64), booted under qemu against this build: tests/vm/.
KERNEL ?= amd64
VM_TIMEOUT ?= 3000
# Side by side on the ground-truth workload: eptrace (both backends) and
# libbpf-tools' bindsnoop, tcpconnect, tcplife; VM=1 in the Debian guest,
# where the peers' kprobes attach.
peers: all
ifeq ($(VM),1)
	tests/vm/vmtest.sh --kernel $(KERNEL) --timeout $(VM_TIMEOUT) -- /usr/bin/python3 bench/peers.py
else
	/usr/bin/python3 bench/peers.py
endif

vmtest: all $(UNIT_TESTS)
	@command -v qemu-system-x86_64 >/dev/null || ./scripts/setup.sh --vm
	tests/vm/vmtest.sh --kernel $(KERNEL) --timeout $(VM_TIMEOUT) -- tests/vm/suite.sh

integration: all
	/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration

# The same tests against a build with AddressSanitizer and UBSan: any report fails.
SAN_OUT := build-san
SAN_CFLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=99 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
sanitize:
	$(MAKE) OUT=$(SAN_OUT) CFLAGS="$(SAN_CFLAGS)" $(SAN_OUT)/eptrace
	$(SAN_ENV) $(MAKE) OUT=$(SAN_OUT) CFLAGS="$(SAN_CFLAGS)" unit
	$(SAN_ENV) EPTRACE_BIN=$(CURDIR)/$(SAN_OUT)/eptrace \
		/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration

# libFuzzer on the reading side of recordings (tests/fuzz): a short run in
# make test, a long one in make fuzz (FUZZ_SECONDS).
FUZZ_OUT := build-fuzz
FUZZ_CFLAGS := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
FUZZ_SECONDS ?= 600
FUZZ_RUN = mkdir -p $(FUZZ_OUT)/corpus && $(FUZZ_OUT)/fuzz_report -close_fd_mask=3 \
	-max_len=131072 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix=$(FUZZ_OUT)/ $(FUZZ_OUT)/corpus tests/fuzz/seeds
$(OUT)/fuzz_report: tests/fuzz/fuzz_report.c $(USER_LIB_OBJ) $(OUT)/user/report.o
	$(CC) $(CFLAGS) -fsanitize=fuzzer $(WARN) $(INCLUDES) $^ \
		-Wl,-Bstatic -lsqlite3 -lz -Wl,-Bdynamic -lpthread -ldl -lm -o $@
fuzz-build:
	$(MAKE) OUT=$(FUZZ_OUT) CC=clang CFLAGS="$(FUZZ_CFLAGS)" $(FUZZ_OUT)/fuzz_report
fuzz-short: fuzz-build
	$(FUZZ_RUN) -max_total_time=60
fuzz: fuzz-build
	$(FUZZ_RUN) -max_total_time=$(FUZZ_SECONDS)

valgrind: all $(UNIT_TESTS)
	./tests/valgrind.sh

# The include graph against the layers of user/ (tests/layering.py).
layering:
	/usr/bin/python3 tests/layering.py

test: layering unit integration sanitize fuzz-short valgrind

deps:
	./scripts/setup.sh

install: $(OUT)/eptrace
	install -D -m 0755 $(OUT)/eptrace $(DESTDIR)$(SBINDIR)/eptrace
	install -d $(DESTDIR)$(UNITDIR)
	sed 's|@SBINDIR@|$(SBINDIR)|' packaging/eptrace.service > $(DESTDIR)$(UNITDIR)/eptrace.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/eptrace.service
	@if [ -z "$(DESTDIR)" ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then \
		systemctl daemon-reload; \
		echo "installed; start it with: systemctl enable --now eptrace"; fi

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/eptrace $(DESTDIR)$(UNITDIR)/eptrace.service

clean:
	rm -rf $(OUT) $(SAN_OUT) $(FUZZ_OUT)

help:
	@echo 'make [target]  (as root for the tests and bench)'
	@echo '  all                  eptrace, the test workload and the bench tools, in build/'
	@echo '  test                 layering, unit, integration, sanitize, fuzz-short and valgrind'
	@echo '  layering             no file of user/ includes a header of a layer above its own'
	@echo '  unit                 C unit tests of the pure code (no kernel needed)'
	@echo '  integration          pytest against the real BPF programs, in network namespaces'
	@echo '  sanitize             unit and integration under ASan and UBSan (build-san/)'
	@echo '  fuzz                 libFuzzer on reading recordings, FUZZ_SECONDS (default 600)'
	@echo '  valgrind             the unit tests, a recording and its reports under valgrind'
	@echo '  soak                 SOAK_MINUTES (default 10) of churn on every core: nothing lost'
	@echo '  bench                overhead against peers on this machine; writes BENCHMARKS.md'
	@echo '  bench VM=1           the same inside Debian 12 kernels under qemu -icount, one vCPU'
	@echo '  vmtest KERNEL=...    unit and integration suites under qemu (amd64 or rt-amd64)'
	@echo '  peers [VM=1]         eptrace and libbpf-tools side by side on the ground-truth workload'
	@echo '  install              build/eptrace and its systemd unit (PREFIX, DESTDIR)'
	@echo '  clean                remove build/, build-san/ and build-fuzz/'

-include $(USER_OBJ:.o=.d) $(patsubst $(OUT)/tests/%,$(OUT)/deps/%.d,$(UNIT_TESTS))

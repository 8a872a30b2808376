#!/usr/bin/env python3
"""Runs a WASI preview1 command module (a wasm32-wasip1 binary) in wasmtime, through the PyPI `wasmtime` package.

The wasmtime counterpart of scripts/wasi-run.mjs (V8 via Node): the module gets its arguments, inherits this
process's stdin, stdout and stderr, and its exit code becomes this process's.

    .venv-test/bin/python scripts/wasi-run-wasmtime.py [OPTIONS] MODULE.wasm [ARGS...]

Options (all before MODULE; everything after MODULE goes to the module):
    --dir HOST[::GUEST]   preopen a host directory (as GUEST, default the same path); repeatable
    --env KEY=VALUE       set a variable in the module's environment; repeatable
    --inherit-env         pass this process's whole environment (by default the module sees none, as with Node)
    --opt-level LEVEL     Cranelift optimisation: none, speed (the default) or speed_and_size
    --serial-compile      compile the module's functions on one thread
    --cpu-clocks          give the module CPU-time clocks (WASI clock ids 2 and 3: process and thread CPU time),
                          which wasmtime's WASI lacks (it answers EBADF); this replaces clock_time_get with a Python
                          one, so each clock read costs a few microseconds more: for benchmarks that time batches
    --                    end of options (for a MODULE whose name starts with '-')

Exit codes: the module's own (proc_exit, or 0 when _start returns), 134 when the module traps (as the wasmtime
CLI does), 2 for bad usage, 1 when the module cannot be loaded or instantiated.
Install: .venv-test/bin/pip install wasmtime
"""

import os
import sys
import time


def usage(msg: str) -> None:
    print(f"wasi-run-wasmtime: {msg}", file=sys.stderr)
    print("usage: wasi-run-wasmtime.py [--dir HOST[::GUEST]] [--env K=V] [--inherit-env] [--opt-level L] "
          "[--serial-compile] [--cpu-clocks] [--] MODULE.wasm [ARGS...]", file=sys.stderr)
    sys.exit(2)


def define_cpu_clocks(wasmtime, linker) -> None:
    """clock_time_get(id, precision, *out) -> errno, with all four preview1 clocks, on Python's clocks."""
    clocks = {0: time.time_ns, 1: time.monotonic_ns, 2: time.process_time_ns, 3: time.thread_time_ns}
    i32, i64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()

    def clock_time_get(caller, clock_id, _precision, out_ptr):
        clock = clocks.get(clock_id)
        if clock is None:
            return 28  # EINVAL
        memory = caller.get("memory")
        if not isinstance(memory, wasmtime.Memory):
            return 8  # EBADF
        try:
            memory.write(caller, clock().to_bytes(8, "little"), out_ptr)
        except IndexError:
            return 21  # EFAULT
        return 0

    linker.allow_shadowing = True
    linker.define_func("wasi_snapshot_preview1", "clock_time_get", wasmtime.FuncType([i32, i64, i32], [i32]),
                       clock_time_get, access_caller=True)


def main(argv: list) -> int:
    dirs, env, inherit_env, opt_level, serial, cpu_clocks = [], [], False, "speed", False, False
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        opt = argv[i]
        if opt == "--":
            i += 1
            break
        if opt in ("-h", "--help"):
            print(__doc__)
            return 0
        if opt in ("--dir", "--env", "--opt-level"):
            if i + 1 >= len(argv):
                usage(f"{opt} needs a value")
            val = argv[i + 1]
            if opt == "--dir":
                host, _, guest = val.partition("::")
                dirs.append((host, guest or host))
            elif opt == "--env":
                if "=" not in val:
                    usage("--env takes KEY=VALUE")
                env.append(tuple(val.split("=", 1)))
            else:
                if val not in ("none", "speed", "speed_and_size"):
                    usage("--opt-level is none, speed or speed_and_size")
                opt_level = val
            i += 2
            continue
        if opt == "--inherit-env":
            inherit_env = True
        elif opt == "--serial-compile":
            serial = True
        elif opt == "--cpu-clocks":
            cpu_clocks = True
        else:
            usage(f"unknown option {opt}")
        i += 1
    if i >= len(argv):
        usage("no module given")
    path, args = argv[i], argv[i + 1:]

    try:
        import wasmtime
    except ImportError:
        print("wasi-run-wasmtime: the `wasmtime` Python package is missing "
              "(install it: .venv-test/bin/pip install wasmtime)", file=sys.stderr)
        return 1

    config = wasmtime.Config()
    config.cranelift_opt_level = opt_level
    if serial:
        config.parallel_compilation = False
    engine = wasmtime.Engine(config)
    try:
        module = wasmtime.Module.from_file(engine, path)
    except (wasmtime.WasmtimeError, OSError) as e:
        print(f"wasi-run-wasmtime: cannot load {path}: {e}", file=sys.stderr)
        return 1

    wasi = wasmtime.WasiConfig()
    wasi.argv = [path, *args]
    if inherit_env:
        wasi.inherit_env()
    if env:
        # Explicit variables are added on top of the inherited ones (or stand alone).
        merged = dict(os.environ) if inherit_env else {}
        merged.update(dict(env))
        wasi.env = list(merged.items())
    wasi.inherit_stdin()
    wasi.inherit_stdout()
    wasi.inherit_stderr()
    for host, guest in dirs:
        wasi.preopen_dir(host, guest)

    store = wasmtime.Store(engine)
    store.set_wasi(wasi)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    if cpu_clocks:
        define_cpu_clocks(wasmtime, linker)
    # Output from this script and from the module share the file descriptors: flush ours first.
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        instance = linker.instantiate(store, module)
    except wasmtime.WasmtimeError as e:
        print(f"wasi-run-wasmtime: cannot instantiate {path}: {e}", file=sys.stderr)
        return 1
    start = instance.exports(store).get("_start")
    if not isinstance(start, wasmtime.Func):
        print(f"wasi-run-wasmtime: {path} is not a WASI command (no _start function)", file=sys.stderr)
        return 1
    try:
        start(store)
        return 0
    except wasmtime.ExitTrap as e:
        return e.code
    except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
        print(f"wasi-run-wasmtime: {path} trapped: {e}", file=sys.stderr)
        return 134

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

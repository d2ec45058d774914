#!/usr/bin/env bash
# Fuzzes TARGET (scenario, trace, cli; or several, comma-separated, SECONDS each) with AFL++ for
# SECONDS: installs afl++ if it is missing (apt-get, as root), restores the sharpfuzz tool,
# publishes the harness to fuzz/.afl/bin, instruments the assemblies under test there with
# sharpfuzz, checks the seeds, and runs afl-fuzz over the corpus with the target's dictionary.
# Exit 0: nothing found; 1: a finding (crash or hang; each is copied to fuzz/findings/TARGET/ and
# replayed, so its exception is printed); 2: a bad command line; 3: afl-fuzz cannot be had here.
# Extra arguments go to afl-fuzz. FOLIOS_FUZZ_SKIP works as for the in-process engine.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

usage() { echo "usage: fuzz/run-afl.sh TARGET[,TARGET...] SECONDS [afl-fuzz options]   (targets: scenario, trace, cli)" >&2; exit 2; }
[ $# -ge 2 ] || usage
IFS=, read -r -a targets <<< "$1"
seconds=$2
shift 2
[[ "$seconds" =~ ^[0-9]+$ ]] && [ "$seconds" -gt 0 ] || usage
for target in "${targets[@]}"; do
    case "$target" in scenario|trace|cli) ;; *) usage ;; esac
done

if ! command -v afl-fuzz >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
        echo "run-afl: installing afl++ (apt-get)"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq afl++) >/dev/null 2>&1 || true
    fi
    command -v afl-fuzz >/dev/null 2>&1 || { echo "run-afl: afl-fuzz is not installed and could not be installed (apt-get install afl++, as root)" >&2; exit 3; }
fi

work=fuzz/.afl
bin=$work/bin
mkdir -p "$work"
dotnet tool restore >/dev/null

# A fresh publish every time: sharpfuzz instruments in place, and an assembly is instrumented once.
rm -rf "$bin"
if ! dotnet publish fuzz/Folios.Fuzz -c Release -o "$bin" > "$work/publish.log" 2>&1; then
    tail -30 "$work/publish.log"
    echo "run-afl: the harness did not build" >&2
    exit 1
fi

# The code under test: the model (the runner's path), the tool (trace reader, command line),
# TraceEvent's nettrace parser and System.CommandLine's parser. Not the harness, not SharpFuzz.
instrument() {
    if ! dotnet sharpfuzz "$bin/$1" "${@:2}" > "$work/instrument.log" 2>&1; then
        cat "$work/instrument.log"
        echo "run-afl: sharpfuzz could not instrument $1" >&2
        exit 1
    fi
}
instrument LargeFolios.BuddyAllocator.dll
instrument LargeFolios.PageTables.dll
instrument LargeFolios.FaultPath.dll
instrument folios.dll
instrument Microsoft.Diagnostics.Tracing.TraceEvent.dll Microsoft.Diagnostics.Tracing.EventPipe,Microsoft.Diagnostics.Tracing.FastSerialization,Microsoft.Diagnostics.Tracing.BlockParser,Microsoft.Diagnostics.Tracing.SpanReader,FastSerialization
instrument System.CommandLine.dll

harness=("$(command -v dotnet)" "$PWD/$bin/LargeFolios.Folios.Fuzz.dll")
export AFL_SKIP_BIN_CHECK=1                         # afl-fuzz runs dotnet, not an afl-cc binary: SharpFuzz serves the fork server
export AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1         # a shared machine: no governor to check, no core to pin
export AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1      # core_pattern may pipe to a handler; crashes are exceptions here anyway
export AFL_NO_UI=1
export AFL_FORKSRV_INIT_TMOUT=60000                 # the first dotnet child starts and JITs
export AFL_MAP_SIZE=65536                           # SharpFuzz's map

status=0
for target in "${targets[@]}"; do
    seeds=$work/in/$target
    out=$work/out/$target
    rm -rf "$seeds" "$out"
    mkdir -p "$seeds" "$work/out"
    for folder in "$bin/corpus/$target" "$bin/regressions/$target"; do
        [ -d "$folder" ] || continue
        find "$folder" -maxdepth 1 -type f -size +0 ! -name README.md -exec cp {} "$seeds/" \;
    done

    # The seeds first, in-process: afl-fuzz only stops at a seed that fails, this says why.
    echo "== afl $target: checking $(ls "$seeds" | wc -l) seeds"
    if ! "${harness[@]}" repro "$target" "$seeds"/* > "$work/seeds-$target.log" 2>&1; then
        grep -v "^   at " "$work/seeds-$target.log" | awk '/: FINDING$/ { n++ } n == 1' | head -9 || true
        echo "run-afl: $target: $(grep -c ': FINDING$' "$work/seeds-$target.log") seed(s) already fail (the first above; all in $work/seeds-$target.log); nothing fuzzed"
        status=1
        continue
    fi

    dictionary=()
    [ -f "$bin/dict/$target.dict" ] && dictionary=(-x "$bin/dict/$target.dict")
    echo "== afl $target: afl-fuzz for $seconds s"
    afl_rc=0
    afl-fuzz -i "$seeds" -o "$out" -t 5000 -m none -V "$seconds" "${dictionary[@]}" "$@" -- "${harness[@]}" afl "$target" \
        > "$work/afl-$target.log" 2>&1 || afl_rc=$?
    stats=$out/default/fuzzer_stats
    if [ ! -f "$stats" ]; then
        tail -30 "$work/afl-$target.log"
        echo "run-afl: $target: afl-fuzz did not run (exit $afl_rc)"
        status=1
        continue
    fi
    grep -E "^(execs_done|execs_per_sec|corpus_count|bitmap_cvg|saved_crashes|saved_hangs|unique_crashes|unique_hangs) " "$stats" | tr -s ' ' | tr '\n' ';' || true
    echo

    found=0
    findings=fuzz/findings/$target
    crashes=()
    for kind in crashes hangs; do
        for input in "$out"/default/$kind/id:*; do
            [ -f "$input" ] || continue
            found=$((found + 1))
            mkdir -p "$findings"
            copy="$findings/afl-${kind%es}-$(sha256sum "$input" | cut -c1-12)"
            cp "$input" "$copy"
            [ "$kind" = crashes ] && crashes+=("$copy")
            [ "$kind" = hangs ] && echo "-- afl $target: hang: $copy"
        done
    done
    if [ "${#crashes[@]}" -gt 0 ]; then
        # Replayed in one process: what each crash is, distinct findings counted, the first of each shown.
        "${harness[@]}" repro "$target" "${crashes[@]}" > "$work/crashes-$target.log" 2>&1 || true
        echo "-- afl $target: ${#crashes[@]} crash(es), by finding:"
        grep '^finding: ' "$work/crashes-$target.log" | sort | uniq -c | sed 's/^/   /' || true
        again=$(grep -c ': FINDING$' "$work/crashes-$target.log" || true)
        if [ "$again" -lt "${#crashes[@]}" ]; then
            echo "   $(( ${#crashes[@]} - again )) do not give a finding when replayed alone: the child died of the memory watchdog (dotnet fuzz/.afl/bin/LargeFolios.Folios.Fuzz.dll afl $target < FILE says so), or of what earlier inputs left behind"
        fi
        grep -v '^   at ' "$work/crashes-$target.log" | awk '/: FINDING$/ { file = $0; next } /^finding: / { shown = !seen[$0]++ } shown && !/^target: / { print }' | head -40 || true
    fi
    if [ "$found" -gt 0 ]; then
        echo "run-afl: $target: afl-fuzz found $found crash(es) or hang(s), in $findings (replay: dotnet fuzz/.afl/bin/LargeFolios.Folios.Fuzz.dll repro $target FILE)"
        status=1
    elif [ "$afl_rc" -ne 0 ]; then
        tail -20 "$work/afl-$target.log"
        echo "run-afl: $target: afl-fuzz exited $afl_rc"
        status=1
    else
        echo "run-afl: $target: nothing found"
    fi
done
exit $status

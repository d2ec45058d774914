using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text;
using System.Threading;
using LargeFolios.BuddyAllocator;
using LargeFolios.FaultPath;

namespace LargeFolios.Folios.Kernel;

/// <summary>
/// Runs a scenario (docs/scenario-format.md) on the running Linux kernel and prints what the kernel
/// did, in the format the model prints (<see cref="ScenarioRunner"/>): <c>dump</c> from each
/// process's /proc/PID/pagemap and /proc/kpageflags, <c>stats</c> from the deltas of the sysfs mTHP
/// counters since the start, the same errors and exit statuses.
/// </summary>
/// <remarks>
/// <para>The memory commands run in the native helper's processes (<see cref="KernelHelper"/>): a
/// forked child of a .NET process may not run managed code. This side sets the knobs (the kernel's
/// defaults first, as a scenario assumes them), reads the counters and runs <c>shrink</c>
/// (<c>echo 2 &gt; /proc/sys/vm/drop_caches</c>, which runs <c>deferred_split_scan</c>).</para>
/// <para>The machine is shared: the counters are system-wide, so other processes' faults show in
/// <c>stats</c>. To keep the run's own noise out, the tool disables THP for itself while it runs
/// (PR_SET_THP_DISABLE), the helper's own memory is MADV_NOHUGEPAGE, khugepaged is kept asleep
/// (<see cref="ThpSysfs.PauseKhugepaged"/>), and a scenario that shrinks starts with one shrink, so
/// folios queued before it are not split by its own. One run at a time per machine: a lock file
/// serialises them.</para>
/// <para>Every knob is put back afterwards, on every path (<see cref="ThpSysfs"/>).</para>
/// </remarks>
internal sealed class KernelScenarioRunner
{
    /// <summary>The lock file that keeps two kernel-side runs from changing the knobs under each other.</summary>
    public const string LockPath = "/tmp/folios-kernel.lock";

    private readonly string _helperPath;
    private readonly string _sysfsRoot;

    /// <summary>Creates a runner that uses the helper at <paramref name="helperPath"/> (by default beside folios) and the knobs under <paramref name="sysfsRoot"/>.</summary>
    public KernelScenarioRunner(string? helperPath = null, string sysfsRoot = ThpSysfs.Root)
    {
        _helperPath = helperPath ?? KernelHelper.DefaultPath;
        _sysfsRoot = sysfsRoot;
    }

    /// <summary>Why the kernel side cannot run on this machine, as one sentence; null when it can.</summary>
    public string? WhyUnavailable() => ThpSysfs.WhyUnavailable(_sysfsRoot) ?? KernelHelper.WhyUnavailable(_helperPath);

    /// <summary>
    /// Reads and runs the scenario at <paramref name="path"/> on the kernel, printing what its
    /// <c>dump</c> and <c>stats</c> lines print to <paramref name="output"/>. Errors go to
    /// <paramref name="error"/> as one line; the result says how it ended.
    /// </summary>
    public ScenarioReplayResult Replay(string path, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        ScenarioReplayResult result = ReplayQuietly(path, output);
        if (result.Error is { } line)
            error.WriteLine(line);
        return result;
    }

    private ScenarioReplayResult ReplayQuietly(string path, TextWriter output)
    {
        if (ScenarioRunner.WhyUnreadable(path) is { } why)
            return ScenarioReplayResult.Malformed($"{(path.Length == 0 ? "\"\"" : path)}: cannot read the scenario: {why}.", 0);
        if (WhyUnavailable() is { } unavailable)
            return ScenarioReplayResult.Malformed($"{path}: cannot run on the kernel: {unavailable}.", 0);

        // The whole file first: a shrink anywhere means one shrink before the start, and a malformed
        // line still lets the lines before it run, as in the model.
        var commands = new List<ScenarioCommand>();
        ScenarioSyntaxException? malformed = null;
        try
        {
            foreach (ScenarioCommand command in ScenarioReader.ReadFile(path))
                commands.Add(command);
        }
        catch (ScenarioSyntaxException syntax)
        {
            malformed = syntax;
        }
        catch (Exception failed) when (failed is IOException or UnauthorizedAccessException)
        {
            return ScenarioReplayResult.Malformed($"{path}: cannot read the scenario: {failed.Message}", 0);
        }

        FileStream machineLock;
        try
        {
            machineLock = TakeMachineLock();
        }
        catch (KernelSideException busy)
        {
            return ScenarioReplayResult.Malformed($"{path}: cannot run on the kernel: {busy.Message}.", 0);
        }
        catch (UnauthorizedAccessException denied)
        {
            return ScenarioReplayResult.Malformed($"{path}: cannot run on the kernel: cannot open {LockPath}: {denied.Message}", 0);
        }

        using FileStream held = machineLock;
        bool thpWasDisabled = LinuxProcess.IsThpDisabled();
        LinuxProcess.TrySetThpDisabled(true);
        var sysfs = new ThpSysfs(_sysfsRoot);
        try
        {
            return Run(commands, malformed, path, sysfs, output);
        }
        catch (KernelSideException failed)
        {
            return ScenarioReplayResult.Malformed($"{path}: cannot run on the kernel: {failed.Message}.", 0);
        }
        finally
        {
            sysfs.Dispose();
            LinuxProcess.TrySetThpDisabled(thpWasDisabled);
        }
    }

    private ScenarioReplayResult Run(List<ScenarioCommand> commands, ScenarioSyntaxException? malformed, string file, ThpSysfs sysfs, TextWriter output)
    {
        sysfs.SetScenarioDefaults();
        using KernelHelper helper = KernelHelper.Start(_helperPath);
        try
        {
            sysfs.PauseKhugepaged();
            if (commands.Exists(c => c.Verb == ScenarioVerb.Shrink))
                Shrink();
            var run = new KernelRun(output, helper, sysfs, file);
            foreach (ScenarioCommand command in commands)
            {
                if (run.Execute(command) is { } failed)
                    return failed;
            }
        }
        finally
        {
            output.Flush();
        }

        return malformed == null
            ? ScenarioReplayResult.Success
            : ScenarioReplayResult.Malformed(malformed.Message, malformed.Line);
    }

    /// <summary>Linux's deferred-split shrinker, with every other shrinker: <c>echo 2 &gt; /proc/sys/vm/drop_caches</c>.</summary>
    private static void Shrink()
    {
        try
        {
            File.WriteAllText("/proc/sys/vm/drop_caches", "2\n");
        }
        catch (Exception failed) when (failed is IOException or UnauthorizedAccessException)
        {
            throw new KernelSideException($"cannot write 2 to /proc/sys/vm/drop_caches: {failed.Message}");
        }
    }

    /// <summary>The lock that serialises kernel-side runs on this machine; waits up to a minute for another run to end.</summary>
    private static FileStream TakeMachineLock()
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                return new FileStream(LockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (attempt < 600)
            {
                Thread.Sleep(100);
            }
            catch (IOException busy)
            {
                throw new KernelSideException($"another kernel-side run holds {LockPath} and did not finish within a minute", busy);
            }
        }
    }

    /// <summary>One run's state: the current process, the counters at the start.</summary>
    private sealed class KernelRun(TextWriter output, KernelHelper helper, ThpSysfs sysfs, string file)
    {
        private readonly long[,] _start = sysfs.ReadCounters();
        private readonly long _available = AvailableBytes();
        private int _current;

        /// <summary>Runs one command; null when it succeeded, else how the run ends.</summary>
        public ScenarioReplayResult? Execute(ScenarioCommand command)
        {
            switch (command.Verb)
            {
                case ScenarioVerb.ThpEnabled:
                    sysfs.Write("enabled", command.Text!.Trim());
                    return null;
                case ScenarioVerb.ThpSize:
                    sysfs.Write($"hugepages-{ThpPolicy.SizeName(command.Order)}/enabled", command.Text!.Trim());
                    return null;
                case ScenarioVerb.ThpKnob:
                    sysfs.Write(ThpPolicy.KnobPath(command.Knob), command.Text!.Trim());
                    return null;
                case ScenarioVerb.Process:
                    _current = command.Process;
                    return null;
                case ScenarioVerb.Stats:
                    output.Write(FormatDeltas(sysfs.ReadCounters()));
                    return null;
                case ScenarioVerb.Shrink:
                    Shrink();
                    return null;
                case ScenarioVerb.Dump:
                    var runs = new List<string>();
                    string done = helper.Request(_current, "dump", runs);
                    if (done != "ok")
                        return Answer(command, done);
                    foreach (string line in runs)
                        output.Write(line + "\n");
                    output.Write("end\n");
                    return null;
                default:
                    if (TooBigForThisMachine(command) is { } tooBig)
                        return tooBig;
                    return Answer(command, helper.Request(_current, Request(command)));
            }
        }

        /// <summary>What the command asks of the helper: numbers in hex, protection and advice as Linux's numbers.</summary>
        private static string Request(ScenarioCommand command) => command.Verb switch
        {
            ScenarioVerb.Mmap => $"mmap {Hex(command.Address)} {Hex(command.Length)} {(int)command.Protection}",
            ScenarioVerb.Munmap => $"munmap {Hex(command.Address)} {Hex(command.Length)}",
            ScenarioVerb.Mprotect => $"mprotect {Hex(command.Address)} {Hex(command.Length)} {(int)command.Protection}",
            ScenarioVerb.Mremap => command.NewAddress is { } to
                ? $"mremap {Hex(command.Address)} {Hex(command.Length)} {Hex(command.NewLength)} {Hex(to)}"
                : $"mremap {Hex(command.Address)} {Hex(command.Length)} {Hex(command.NewLength)}",
            ScenarioVerb.Madvise => $"madvise {Hex(command.Address)} {Hex(command.Length)} {LinuxAdvice(command.Advice)}",
            ScenarioVerb.Write => $"write {Hex(command.Address)}",
            ScenarioVerb.Read => $"read {Hex(command.Address)}",
            ScenarioVerb.Fork => $"fork {command.Process.ToString(CultureInfo.InvariantCulture)}",
            ScenarioVerb.Exit => "exit",
            _ => throw new ArgumentOutOfRangeException(nameof(command), command.Verb, "Not a request to the helper."),
        };

        /// <summary>Linux's MADV_* number of an advice.</summary>
        private static int LinuxAdvice(MadviseAdvice advice) => advice switch
        {
            MadviseAdvice.HugePage => 14,
            MadviseAdvice.NoHugePage => 15,
            MadviseAdvice.DontNeed => 4,
            MadviseAdvice.Free => 8,
            MadviseAdvice.PopulateRead => 22,
            MadviseAdvice.PopulateWrite => 23,
            MadviseAdvice.Collapse => 25,
            MadviseAdvice.DontFork => 10,
            MadviseAdvice.DoFork => 11,
            MadviseAdvice.WipeOnFork => 18,
            MadviseAdvice.KeepOnFork => 19,
            _ => throw new ArgumentOutOfRangeException(nameof(advice), advice, "No such advice."),
        };

        /// <summary>The helper's final line as the run's outcome: null to go on, else a failure.</summary>
        private ScenarioReplayResult? Answer(ScenarioCommand command, string answer)
        {
            string[] words = answer.Split(' ');
            string where = $"{file}:{command.Line}: {command}";
            switch (words[0])
            {
                case "ok":
                    if (command.Verb == ScenarioVerb.Exit && _current >= 0)
                        _current = -1;
                    return null;
                case "errno" when words.Length >= 2:
                    string name = words[1];
                    return ScenarioReplayResult.Failed($"{where}: {name}: the running kernel refused it ({Describe(name)}).", command.Line, name);
                case "segv":
                    string access = command.Verb == ScenarioVerb.Write ? "write to" : "read of";
                    return ScenarioReplayResult.Failed($"{where}: SIGSEGV: the running kernel sent SIGSEGV for the {access} 0x{command.Address:x}.", command.Line, ScenarioReplayResult.SegmentationFault);
                case "died":
                    return ScenarioReplayResult.Failed($"{where}: OOM: the scenario's process {_current} was killed while it ran (by the OOM killer, most likely).", command.Line, ScenarioReplayResult.OutOfMemory);
                case "own" when words.Length >= 3:
                    throw new KernelSideException($"line {command.Line} ({command}) touches the helper's own memory at {words[1]}..{words[2]}; expected scenario addresses away from the helper's binary, libraries and stack (below 0x500000000000, say)");
                default:
                    throw new KernelSideException($"the native helper answered {FaultPath.EchoedText.Quote(answer)} to line {command.Line} ({command})");
            }
        }

        /// <summary>
        /// A command that could allocate more memory than the machine has (a populate_write or a
        /// collapse of a range beyond half of MemAvailable) is not run: the OOM killer would end more
        /// than the scenario.
        /// </summary>
        private ScenarioReplayResult? TooBigForThisMachine(ScenarioCommand command)
        {
            bool allocates = command.Verb == ScenarioVerb.Madvise && command.Advice is MadviseAdvice.PopulateWrite or MadviseAdvice.Collapse;
            if (!allocates || _available <= 0 || command.Length <= (ulong)_available / 2)
                return null;
            throw new KernelSideException(
                $"line {command.Line} ({command}) could allocate {ByteText(command.Length)}, more than half of the {ByteText((ulong)_available)} this machine has available; expected a smaller range");
        }

        private string FormatDeltas(long[,] now)
        {
            var text = new StringBuilder();
            MthpStatItem[] items = Enum.GetValues<MthpStatItem>();
            for (int order = ThpPolicy.MinAnonOrder; order <= PageGeometry.PmdOrder; order++)
            {
                foreach (MthpStatItem item in items)
                {
                    long delta = now[order, (int)item] - _start[order, (int)item];
                    if (delta != 0)
                        text.Append(ThpPolicy.SizeName(order)).Append(' ').Append(MthpStats.Name(item)).Append(' ').Append(delta).Append('\n');
                }
            }

            return text.ToString();
        }

        private static string Describe(string errno) => ErrnoNumber(errno) is int number ? LinuxProcess.Describe(number) : "an error folios does not name";

        private static int? ErrnoNumber(string name) => name switch
        {
            "EPERM" => 1,
            "ENOENT" => 2,
            "EINTR" => 4,
            "EIO" => 5,
            "EBADF" => 9,
            "EAGAIN" => 11,
            "ENOMEM" => 12,
            "EACCES" => 13,
            "EFAULT" => 14,
            "EBUSY" => 16,
            "EEXIST" => 17,
            "ENODEV" => 19,
            "EINVAL" => 22,
            "ENOSPC" => 28,
            "ERANGE" => 34,
            "ENOSYS" => 38,
            "EOVERFLOW" => 75,
            "EOPNOTSUPP" => 95,
            "EHWPOISON" => 133,
            _ => null,
        };

        private static long AvailableBytes()
        {
            try
            {
                foreach (string line in File.ReadLines("/proc/meminfo"))
                {
                    if (line.StartsWith("MemAvailable:", StringComparison.Ordinal)
                        && long.TryParse(line["MemAvailable:".Length..].Replace("kB", "", StringComparison.Ordinal).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long kb))
                        return kb << 10;
                }
            }
            catch (IOException)
            {
            }

            return 0;
        }

        private static string ByteText(ulong bytes) => bytes >= 1UL << 30
            ? $"{bytes / (double)(1UL << 30):F1} GiB"
            : $"{bytes / (double)(1UL << 20):F1} MiB";

        private static string Hex(ulong value) => "0x" + value.ToString("x", CultureInfo.InvariantCulture);
    }
}

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Runtime.InteropServices;
using System.Threading;
using LargeFolios.BuddyAllocator;
using LargeFolios.FaultPath;

namespace LargeFolios.Folios.Kernel;

/// <summary>
/// The running kernel's THP knobs (/sys/kernel/mm/transparent_hugepage), changed for a run and put
/// back after it: the first write to each file saves what it held, and <see cref="Restore"/> (or
/// <see cref="Dispose"/>) writes every saved value back, last changed first. A Ctrl-C, SIGTERM or
/// SIGHUP restores every live instance before the process ends, and so does a normal exit.
/// </summary>
internal sealed class ThpSysfs : IDisposable
{
    /// <summary>The sysfs directory of the THP knobs.</summary>
    public const string Root = "/sys/kernel/mm/transparent_hugepage";

    /// <summary>What <c>khugepaged/scan_sleep_millisecs</c> is set to for a run: an hour, so khugepaged never wakes during one.</summary>
    public const int PausedScanSleepMilliseconds = 3_600_000;

    private static readonly Lock LiveLock = new();
    private static readonly List<ThpSysfs> Live = [];
    private static PosixSignalRegistration[]? _signals;

    private readonly string _root;
    private readonly List<(string Path, string Value)> _saved = [];

    /// <summary>Opens the knobs under <paramref name="root"/> (the real sysfs unless a test gives a copy).</summary>
    public ThpSysfs(string root = Root)
    {
        _root = root;
        lock (LiveLock)
        {
            Live.Add(this);
            _signals ??= RegisterSignals();
        }
    }

    /// <summary>Why the kernel side cannot run here, as one sentence; null when it can.</summary>
    public static string? WhyUnavailable(string root = Root)
    {
        if (!OperatingSystem.IsLinux())
            return "it needs Linux (the kernel's THP sysfs, /proc/PID/pagemap and /proc/kpageflags)";
        if (!Directory.Exists(root) || !File.Exists(Path.Combine(root, "enabled")))
            return $"this kernel has no THP sysfs ({root}/enabled is missing; CONFIG_TRANSPARENT_HUGEPAGE)";
        if (!Environment.IsPrivilegedProcess)
            return $"it needs root, to write {root} and read /proc/kpageflags; run it with sudo";
        return null;
    }

    /// <summary>A knob's text, trimmed ("always [madvise] never", "511").</summary>
    public string Read(string path) => File.ReadAllText(Path.Combine(_root, path)).Trim();

    /// <summary>The setting a multiple-choice knob has selected: the bracketed word of "always [madvise] never".</summary>
    public static string Selected(string text)
    {
        int open = text.IndexOf('[', StringComparison.Ordinal);
        int close = text.IndexOf(']', StringComparison.Ordinal);
        return open >= 0 && close > open ? text[(open + 1)..close] : text.Trim();
    }

    /// <summary>The value a knob's file would take back: the selected word, or the number.</summary>
    public string ReadValue(string path) => Selected(Read(path));

    /// <summary>Writes a knob, saving the value it held before the first write.</summary>
    /// <exception cref="KernelSideException">The kernel refused the write; the message names the file and the reason.</exception>
    public void Write(string path, string value)
    {
        string full = Path.Combine(_root, path);
        lock (_saved)
        {
            if (!_saved.Exists(s => s.Path == path))
            {
                string before;
                try
                {
                    before = ReadValue(path);
                }
                catch (IOException failed)
                {
                    throw new KernelSideException($"cannot read {full}: {failed.Message}");
                }

                if (before == value)
                    return;
                _saved.Add((path, before));
            }
        }

        WriteRaw(full, value);
    }

    /// <summary>Writes back every saved value, the last changed first, and forgets them; every write is tried.</summary>
    /// <returns>The files that could not be restored, with why; empty when all were.</returns>
    public IReadOnlyList<string> Restore()
    {
        var failures = new List<string>();
        lock (_saved)
        {
            for (int i = _saved.Count - 1; i >= 0; i--)
            {
                try
                {
                    WriteRaw(Path.Combine(_root, _saved[i].Path), _saved[i].Value);
                }
                catch (KernelSideException failed)
                {
                    failures.Add(failed.Message);
                }
            }

            _saved.Clear();
        }

        return failures;
    }

    /// <summary>Restores and leaves the signal handlers' list.</summary>
    public void Dispose()
    {
        Restore();
        lock (LiveLock)
            Live.Remove(this);
    }

    /// <summary>
    /// The kernel's defaults for every knob a scenario may set (docs/scenario-format.md, the initial
    /// settings): what a scenario's first line may assume, whatever the machine had.
    /// </summary>
    public void SetScenarioDefaults()
    {
        Write("enabled", "madvise");
        foreach (int order in MthpSizes())
            Write($"hugepages-{ThpPolicy.SizeName(order)}/enabled", order == PageGeometry.PmdOrder ? "inherit" : "never");
        Write("defrag", "madvise");
        Write("use_zero_page", "1");
        Write("shrink_underused", "1");
        Write("khugepaged/max_ptes_none", "511");
        Write("khugepaged/max_ptes_shared", "256");
        Write("khugepaged/max_ptes_swap", "64");
    }

    /// <summary>
    /// Keeps khugepaged asleep for the run: its thread kept from stopping (and so from starting again,
    /// which scans at once), its scan interval an hour, and the write that sets it waking it for one
    /// last round, which this waits out (up to two seconds) so that no round overlaps the run.
    /// The model has no khugepaged; a collapse behind a scenario's back would be a difference that is
    /// neither's fault. Needs at least one mm registered with khugepaged (the helper's broker is), or
    /// khugepaged would wake for the first scenario mm that registers.
    /// </summary>
    public void PauseKhugepaged()
    {
        // khugepaged stops when no PMD size is enabled and starts afresh, scanning at once, when one
        // is again: a scenario's "thp enabled never" then "always" would have its memory collapsed.
        // With shmem's PMD size at "advise" (which no anonymous mapping reads) the thread never stops.
        Write("hugepages-2048kB/shmem_enabled", "advise");
        string? khugepaged = Khugepaged.Find();
        long scans = FullScans();
        Write("khugepaged/scan_sleep_millisecs", PausedScanSleepMilliseconds.ToString(CultureInfo.InvariantCulture));
        if (khugepaged == null)
            return;   // no thread: THP is off, nothing will collapse
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(2) && !(FullScans() > scans && Khugepaged.IsAsleep(khugepaged)))
            Thread.Sleep(1);
    }

    /// <summary>khugepaged's passes over its whole list of mms (<c>khugepaged/full_scans</c>): each round that reaches the list's end adds one.</summary>
    private long FullScans() =>
        long.TryParse(Read("khugepaged/full_scans"), NumberStyles.None, CultureInfo.InvariantCulture, out long scans) ? scans : 0;

    /// <summary>The anonymous mTHP orders whose sysfs directories this kernel has (2..9 on x86-64).</summary>
    public IEnumerable<int> MthpSizes()
    {
        for (int order = ThpPolicy.MinAnonOrder; order <= PageGeometry.PmdOrder; order++)
        {
            if (Directory.Exists(Path.Combine(_root, $"hugepages-{ThpPolicy.SizeName(order)}")))
                yield return order;
        }
    }

    /// <summary>Every mTHP counter of every size, as the stats files hold them now: [order, item].</summary>
    public long[,] ReadCounters()
    {
        MthpStatItem[] items = Enum.GetValues<MthpStatItem>();
        var values = new long[PageGeometry.PmdOrder + 1, items.Length];
        foreach (int order in MthpSizes())
        {
            string directory = Path.Combine(_root, $"hugepages-{ThpPolicy.SizeName(order)}", "stats");
            foreach (MthpStatItem item in items)
            {
                string file = Path.Combine(directory, MthpStats.Name(item));
                if (File.Exists(file) && long.TryParse(File.ReadAllText(file).Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value))
                    values[order, (int)item] = value;
            }
        }

        return values;
    }

    private static void WriteRaw(string full, string value)
    {
        try
        {
            File.WriteAllText(full, value + "\n");
        }
        catch (Exception failed) when (failed is IOException or UnauthorizedAccessException)
        {
            throw new KernelSideException($"cannot write \"{value}\" to {full}: {failed.Message}");
        }
    }

    private static PosixSignalRegistration[] RegisterSignals()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) => RestoreAll();
        return
        [
            PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal),
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal),
            PosixSignalRegistration.Create(PosixSignal.SIGHUP, OnSignal),
            PosixSignalRegistration.Create(PosixSignal.SIGQUIT, OnSignal),
        ];
    }

    // The signal's default action (ending the process) follows: the knobs go back first.
    private static void OnSignal(PosixSignalContext context) => RestoreAll();

    private static void RestoreAll()
    {
        ThpSysfs[] live;
        lock (LiveLock)
            live = Live.ToArray();
        foreach (ThpSysfs sysfs in live)
            sysfs.Restore();
    }

    /// <summary>khugepaged's thread, seen through /proc.</summary>
    private static class Khugepaged
    {
        /// <summary>khugepaged's /proc directory; null when THP is off and it does not run.</summary>
        public static string? Find()
        {
            foreach (string directory in Directory.EnumerateDirectories("/proc"))
            {
                string name = Path.GetFileName(directory);
                if (name.Length == 0 || !char.IsAsciiDigit(name[0]))
                    continue;
                try
                {
                    if (File.ReadAllText(Path.Combine(directory, "comm")).Trim() == "khugepaged")
                        return directory;
                }
                catch (IOException)
                {
                    // the task went away
                }
            }

            return null;
        }

        /// <summary>Whether the thread sleeps in its own wait (state S, wchan khugepaged).</summary>
        public static bool IsAsleep(string proc)
        {
            try
            {
                string stat = File.ReadAllText(Path.Combine(proc, "stat"));
                int close = stat.LastIndexOf(')');
                char state = close >= 0 && close + 2 < stat.Length ? stat[close + 2] : '?';
                string wchan = File.ReadAllText(Path.Combine(proc, "wchan")).Trim();
                return state == 'S' && wchan.StartsWith("khugepaged", StringComparison.Ordinal);
            }
            catch (IOException)
            {
                return true;
            }
        }
    }
}

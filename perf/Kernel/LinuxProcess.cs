using System;
using System.Runtime.InteropServices;

namespace LargeFolios.Folios.Kernel;

/// <summary>The few Linux calls the kernel side makes on its own process.</summary>
internal static partial class LinuxProcess
{
    private const int PrSetThpDisable = 41;
    private const int PrGetThpDisable = 42;

    /// <summary>
    /// prctl(PR_SET_THP_DISABLE): while set, no fault of this process's memory allocates a large
    /// folio, so the runtime's own faults never move the system-wide mTHP counters a scenario reads.
    /// Kept across fork and exec: the helper clears it for the scenario's processes.
    /// </summary>
    /// <returns>False where the kernel refused (not Linux, or no THP).</returns>
    public static bool TrySetThpDisabled(bool disabled) =>
        OperatingSystem.IsLinux() && Prctl(PrSetThpDisable, disabled ? 1UL : 0UL, 0, 0, 0) == 0;

    /// <summary>prctl(PR_GET_THP_DISABLE): whether THP is disabled for this process now.</summary>
    public static bool IsThpDisabled() => OperatingSystem.IsLinux() && Prctl(PrGetThpDisable, 0, 0, 0, 0) > 0;

    /// <summary>The text of an errno, as strerror gives it ("Invalid argument").</summary>
    public static string Describe(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    [LibraryImport("libc", EntryPoint = "prctl", SetLastError = true)]
    private static partial int Prctl(int option, ulong arg2, ulong arg3, ulong arg4, ulong arg5);
}

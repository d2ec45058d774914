using System;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Threading;

namespace LargeFolios.PageTables;

/// <summary>
/// The all-PTEs-none scan, the hot loop of the fault path's order selection: how many leading
/// entries of a PTE range are none (the seed's <c>check_all_ptes_none</c>), and whether all are
/// (Linux <c>pte_range_none</c>). Every candidate mTHP order costs one scan of up to a whole
/// table, so the scan runs on the widest vectors the CPU accelerates; see <see cref="PteScanPath"/>.
/// </summary>
/// <remarks>
/// The environment variable <c>LARGEFOLIOS_PTE_SCAN</c> (Scalar, Vector128, Vector256 or
/// Vector512, any case), read once, pins one path for the whole process so that a result can be
/// reproduced or a path measured on its own. Pinning a path this machine does not accelerate makes
/// the first scan throw <see cref="PlatformNotSupportedException"/>: a silent fallback would
/// measure or test the wrong code.
/// </remarks>
public static unsafe class PteScan
{
    /// <summary>The environment variable that pins a path; see <see cref="ParseSetting"/>.</summary>
    internal const string EnvironmentVariable = "LARGEFOLIOS_PTE_SCAN";

    /// <summary>
    /// <see cref="s_forcedPath"/> before the environment variable has been checked. Not
    /// <see cref="PteScanPath.Auto"/>, so the hot path's one test sends the first scan to the slow
    /// path, which checks it: a bad setting then fails that scan, not the type's initialiser.
    /// </summary>
    private const PteScanPath Unresolved = (PteScanPath)(-1);

    private static readonly string? s_setting = Environment.GetEnvironmentVariable(EnvironmentVariable);

    private static PteScanPath s_forcedPath = Unresolved;

    /// <summary>
    /// The path a scan of a whole table (512 entries) takes now: the pinned one if any, else the
    /// widest accelerated vector width. For logs and benchmark reports, which must say what ran.
    /// </summary>
    /// <exception cref="InvalidOperationException"><c>LARGEFOLIOS_PTE_SCAN</c> names no path.</exception>
    /// <exception cref="PlatformNotSupportedException"><c>LARGEFOLIOS_PTE_SCAN</c> names a path this machine does not accelerate.</exception>
    public static PteScanPath ActivePath
    {
        get
        {
            PteScanPath forced = ForcedPath;
            return forced != PteScanPath.Auto ? forced : AutoPath(VirtualAddress.EntriesPerTable);
        }
    }

    /// <summary>
    /// The pinned path, <see cref="PteScanPath.Auto"/> when none: starts as
    /// <c>LARGEFOLIOS_PTE_SCAN</c> says. Settable so that tests and benchmarks can run the public
    /// entry points on one path; setting it is not synchronised with scans in flight, so it is
    /// meant for code that owns the process (tests serialise on it).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a <see cref="PteScanPath"/>.</exception>
    /// <exception cref="PlatformNotSupportedException">The path is not accelerated on this machine.</exception>
    internal static PteScanPath ForcedPath
    {
        get
        {
            PteScanPath forced = s_forcedPath;
            return forced != Unresolved ? forced : ResolveSetting();
        }

        set
        {
            if (!Enum.IsDefined(value))
                throw new ArgumentOutOfRangeException(nameof(value), value, $"{(int)value} is not a PTE scan path; expected one of {string.Join(", ", Enum.GetNames<PteScanPath>())}.");
            ThrowIfUnsupported(value, $"{nameof(PteScan)}.{nameof(ForcedPath)} = {value}");
            s_forcedPath = value;
        }
    }

    /// <summary>
    /// True when <paramref name="path"/> can be pinned here: <see cref="PteScanPath.Auto"/> and
    /// <see cref="PteScanPath.Scalar"/> always, a vector path when the CPU accelerates its width
    /// (a software-emulated vector would be slower than the scalar loop). False for values that
    /// name no path.
    /// </summary>
    public static bool IsSupported(PteScanPath path) => path switch
    {
        PteScanPath.Auto or PteScanPath.Scalar => true,
        PteScanPath.Vector128 => Vector128.IsHardwareAccelerated,
        PteScanPath.Vector256 => Vector256.IsHardwareAccelerated,
        PteScanPath.Vector512 => Vector512.IsHardwareAccelerated,
        _ => false,
    };

    /// <summary>How many of the first <paramref name="count"/> entries at <paramref name="ptes"/> are none before the first that is not.</summary>
    /// <remarks>Reads no entry at or past <paramref name="count"/>: a range may end at the end of a mapped page.</remarks>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is negative.</exception>
    internal static int CountNone(Pte* ptes, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return Dispatch(ref *(ulong*)ptes, count);
    }

    /// <summary>How many leading entries of <paramref name="ptes"/> are none.</summary>
    public static int CountNone(ReadOnlySpan<Pte> ptes) =>
        Dispatch(ref Unsafe.As<Pte, ulong>(ref MemoryMarshal.GetReference(ptes)), ptes.Length);

    /// <summary>True when all <paramref name="count"/> entries at <paramref name="ptes"/> are none (Linux <c>pte_range_none</c>).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is negative.</exception>
    internal static bool AllNone(Pte* ptes, int count) => CountNone(ptes, count) == count;

    /// <summary>True when every entry of <paramref name="ptes"/> is none.</summary>
    public static bool AllNone(ReadOnlySpan<Pte> ptes) => CountNone(ptes) == ptes.Length;

    /// <summary>
    /// Reads a <c>LARGEFOLIOS_PTE_SCAN</c> value: unset or blank is <see cref="PteScanPath.Auto"/>,
    /// otherwise a path's name in any case. Numbers and combinations are refused, unlike
    /// <see cref="Enum.TryParse{TEnum}(string, bool, out TEnum)"/>, so a typo cannot pin a path by accident.
    /// </summary>
    /// <exception cref="InvalidOperationException"><paramref name="setting"/> names no path.</exception>
    /// <exception cref="PlatformNotSupportedException">It names a path this machine does not accelerate.</exception>
    internal static PteScanPath ParseSetting(string? setting)
    {
        if (string.IsNullOrWhiteSpace(setting))
            return PteScanPath.Auto;

        string name = setting.Trim();
        foreach (PteScanPath path in Enum.GetValues<PteScanPath>())
        {
            if (string.Equals(name, path.ToString(), StringComparison.OrdinalIgnoreCase))
            {
                ThrowIfUnsupported(path, $"{EnvironmentVariable}={setting}");
                return path;
            }
        }

        throw new InvalidOperationException(
            $"{EnvironmentVariable}={setting} names no PTE scan path; expected one of {string.Join(", ", Enum.GetNames<PteScanPath>())} (any case), or unset.");
    }

    /// <summary>
    /// The auto path inline, so that the JIT drops the widths the CPU lacks (IsHardwareAccelerated
    /// is a JIT-time constant) and the ability to pin a path costs an unpinned scan one load and
    /// one predictable branch.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Dispatch(ref ulong first, int count)
    {
        if (s_forcedPath != PteScanPath.Auto)
            return CountNoneForced(ref first, count);
        return CountNoneAuto(ref first, count);
    }

    /// <summary>
    /// The widest accelerated width the input fills, as dotnet/runtime's span helpers choose;
    /// each strategy also hands shorter inputs down, so this only saves those inputs a call.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int CountNoneAuto(ref ulong first, int count)
    {
        if (Vector512.IsHardwareAccelerated && count >= Vector512<ulong>.Count)
            return PteScanVector512.CountNone(ref first, count);
        if (Vector256.IsHardwareAccelerated && count >= Vector256<ulong>.Count)
            return PteScanVector256.CountNone(ref first, count);
        if (Vector128.IsHardwareAccelerated && count >= Vector128<ulong>.Count)
            return PteScanVector128.CountNone(ref first, count);
        return PteScanScalar.CountNone(ref first, count);
    }

    /// <summary>The path <see cref="CountNoneAuto"/> takes for <paramref name="count"/> entries.</summary>
    private static PteScanPath AutoPath(int count)
    {
        if (Vector512.IsHardwareAccelerated && count >= Vector512<ulong>.Count)
            return PteScanPath.Vector512;
        if (Vector256.IsHardwareAccelerated && count >= Vector256<ulong>.Count)
            return PteScanPath.Vector256;
        if (Vector128.IsHardwareAccelerated && count >= Vector128<ulong>.Count)
            return PteScanPath.Vector128;
        return PteScanPath.Scalar;
    }

    /// <summary>
    /// A pinned path, or the first scan of the process (the setting not checked yet). Out of line,
    /// so the hot path holds only the test that leads here.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int CountNoneForced(ref ulong first, int count) => ForcedPath switch
    {
        PteScanPath.Scalar => PteScanScalar.CountNone(ref first, count),
        PteScanPath.Vector128 => PteScanVector128.CountNone(ref first, count),
        PteScanPath.Vector256 => PteScanVector256.CountNone(ref first, count),
        PteScanPath.Vector512 => PteScanVector512.CountNone(ref first, count),
        _ => CountNoneAuto(ref first, count),
    };

    /// <summary>
    /// Checks the environment variable once and records the outcome, unless a test or benchmark
    /// set <see cref="ForcedPath"/> meanwhile: that assignment wins. A bad setting is not
    /// recorded, so every scan reports it rather than only the first.
    /// </summary>
    private static PteScanPath ResolveSetting()
    {
        PteScanPath path = ParseSetting(s_setting);
        PteScanPath previous = Interlocked.CompareExchange(ref s_forcedPath, path, Unresolved);
        return previous == Unresolved ? path : previous;
    }

    /// <summary>Throws when <paramref name="path"/> is not accelerated here; <paramref name="source"/> says who asked for it.</summary>
    private static void ThrowIfUnsupported(PteScanPath path, string source)
    {
        if (!IsSupported(path))
            ThrowUnsupported(path, source);
    }

    [DoesNotReturn]
    private static void ThrowUnsupported(PteScanPath path, string source)
    {
        string supported = string.Join(", ", Array.FindAll(Enum.GetValues<PteScanPath>(), IsSupported));
        throw new PlatformNotSupportedException(
            $"{source}: the {path} PTE scan path is not hardware accelerated on this machine ({path}.IsHardwareAccelerated is false); supported here: {supported}.");
    }
}

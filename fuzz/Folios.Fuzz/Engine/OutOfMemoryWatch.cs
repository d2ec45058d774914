using System;
using System.Diagnostics;
using System.Linq;
using System.Reflection;
using System.Runtime.ExceptionServices;

namespace LargeFolios.Fuzz.Engine;

/// <summary>
/// Sees every real <see cref="OutOfMemoryException"/> a thread meets, caught or not. The harness
/// runs under a GC heap hard limit (System.GC.HeapHardLimit, 3 GiB, in the project file), so an
/// input that asks for more memory than that (a damaged length read as a huge array) gets an
/// OutOfMemoryException on any machine, instead of gigabytes on a big one and nothing on a small
/// one; code under test may catch it (the trace reader turns it into "corrupt"), but the input
/// still asked for memory without bound, which is the <c>memory</c> finding. The model's own
/// out-of-memory (an arena with no free page, thrown by the repository's libraries) is a result,
/// not a finding.
/// </summary>
public static class OutOfMemoryWatch
{
    [ThreadStatic]
    private static string? t_seen;

    [ThreadStatic]
    private static string? t_where;

    [ThreadStatic]
    private static bool t_inside;

    static OutOfMemoryWatch() => AppDomain.CurrentDomain.FirstChanceException += OnFirstChance;

    /// <summary>Starts watching the calling thread for the next input.</summary>
    public static void Begin() => t_seen = t_where = null;

    /// <summary>The method that asked for the memory, as of the last <see cref="End"/> that saw one.</summary>
    public static string Where => t_where ?? "";

    /// <summary>What the calling thread met since <see cref="Begin"/>: the exception and where, or null.</summary>
    public static string? End()
    {
        string? seen = t_seen;
        t_seen = null;
        return seen;
    }

    private static void OnFirstChance(object? sender, FirstChanceExceptionEventArgs e)
    {
        if (e.Exception is not OutOfMemoryException || t_seen is not null || t_inside)
            return;
        t_inside = true;
        try
        {
            MethodBase[] frames = new StackTrace(1, fNeedFileInfo: false).GetFrames()
                .Select(f => f.GetMethod())
                .OfType<MethodBase>()
                .Where(m => m.DeclaringType != typeof(OutOfMemoryWatch) && m.DeclaringType?.Namespace is not ("System.Runtime" or "System.Runtime.ExceptionServices"))
                .ToArray();
            string? thrower = frames.FirstOrDefault()?.DeclaringType?.Namespace;
            if (thrower is not null && (thrower.StartsWith("LargeFolios.BuddyAllocator", StringComparison.Ordinal)
                || thrower.StartsWith("LargeFolios.PageTables", StringComparison.Ordinal)
                || thrower.StartsWith("LargeFolios.FaultPath", StringComparison.Ordinal)))
                return;
            t_where = frames.Length > 0 ? $"{frames[0].DeclaringType?.FullName}.{frames[0].Name}" : "";
            t_seen = $"{e.Exception.Message} (the GC heap's hard limit is {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes >> 20} MiB), at "
                + string.Join(" <- ", frames.Take(4).Select(m => $"{m.DeclaringType?.FullName}.{m.Name}"));
        }
#pragma warning disable CA1031 // Nothing may escape a first-chance handler; a failure to describe the exception loses only the description.
        catch (Exception)
#pragma warning restore CA1031
        {
            t_seen ??= "OutOfMemoryException";
        }
        finally
        {
            t_inside = false;
        }
    }
}

using System.Threading;

namespace LargeFolios.Folios.Cli;

/// <summary>
/// How far a long job has got, in units it chooses (pages, measurements): workers add to it as
/// they go, and a progress bar polls it. Cheap enough to update every few hundred pages.
/// </summary>
internal sealed class WorkProgress
{
    private long _done;
    private long _total;

    /// <summary>Units finished so far.</summary>
    public long Done => Volatile.Read(ref _done);

    /// <summary>Units the whole job will take (it may grow as work is planned).</summary>
    public long Total => Volatile.Read(ref _total);

    /// <summary>Announces <paramref name="units"/> more work.</summary>
    public void Plan(long units) => Interlocked.Add(ref _total, units);

    /// <summary>Records <paramref name="units"/> finished.</summary>
    public void Advance(long units) => Interlocked.Add(ref _done, units);
}

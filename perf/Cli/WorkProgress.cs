using System;
using System.Diagnostics;
using System.Threading;

namespace LargeFolios.Folios.Cli;

/// <summary>
/// How far a long job has got, in units it chooses (pages, measurements): workers add to it as
/// they go, and a progress bar polls it. Cheap enough to update every few hundred pages.
/// </summary>
/// <remarks>
/// Its clock is the job's own: it starts at the first <see cref="Plan"/> (a part that waits for
/// the one before it shows no time yet) and stops at <see cref="Finish"/>, which the job calls
/// once everything after its counted units (teardown, a report's numbers) is done too.
/// </remarks>
internal sealed class WorkProgress
{
    private long _done;
    private long _total;
    private long _startedAt;
    private long _finishedAt;

    /// <summary>Units finished so far.</summary>
    public long Done => Volatile.Read(ref _done);

    /// <summary>Units the whole job will take (it may grow as work is planned).</summary>
    public long Total => Volatile.Read(ref _total);

    /// <summary>Whether work has been planned: the part is under way.</summary>
    public bool Started => Volatile.Read(ref _startedAt) != 0;

    /// <summary>Whether the job said it is done, counted units and the rest.</summary>
    public bool Finished => Volatile.Read(ref _finishedAt) != 0;

    /// <summary>Every counted unit is done but the job is not: it is tearing down or summing up.</summary>
    public bool Finishing => Started && !Finished && Done >= Total;

    /// <summary>Time since the first <see cref="Plan"/>, up to <see cref="Finish"/>; zero before.</summary>
    public TimeSpan Elapsed
    {
        get
        {
            long started = Volatile.Read(ref _startedAt);
            if (started == 0)
                return TimeSpan.Zero;
            long finished = Volatile.Read(ref _finishedAt);
            return Stopwatch.GetElapsedTime(started, finished != 0 ? finished : Stopwatch.GetTimestamp());
        }
    }

    /// <summary>Announces <paramref name="units"/> more work; the first call starts the clock.</summary>
    public void Plan(long units)
    {
        Interlocked.CompareExchange(ref _startedAt, Stopwatch.GetTimestamp(), 0);
        Interlocked.Add(ref _total, units);
    }

    /// <summary>Records <paramref name="units"/> finished.</summary>
    public void Advance(long units) => Interlocked.Add(ref _done, units);

    /// <summary>The job is done with this part; its clock stops.</summary>
    public void Finish()
    {
        Interlocked.CompareExchange(ref _startedAt, Stopwatch.GetTimestamp(), 0);
        Interlocked.CompareExchange(ref _finishedAt, Stopwatch.GetTimestamp(), 0);
    }
}

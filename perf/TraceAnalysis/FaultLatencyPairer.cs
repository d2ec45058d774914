using System.Collections.Generic;
using LargeFolios.FaultPath;

namespace LargeFolios.Folios.TraceAnalysis;

/// <summary>
/// Matches each FaultStop with the FaultStart before it on the same thread. A fault runs on one
/// thread from start to stop and never faults again inside itself, so a thread has at most one
/// open fault; a stop whose start is missing (the session began mid-fault) or is for another
/// address is counted, not guessed at.
/// </summary>
internal sealed class FaultLatencyPairer
{
    private readonly Dictionary<int, OpenFault> _open = [];
    private readonly List<FaultSample> _samples = [];
    private long _abandonedStarts;

    /// <summary>The faults timed so far.</summary>
    public IReadOnlyList<FaultSample> Samples => _samples;

    /// <summary>Starts that met no stop: followed by another fault's events on their thread, or still open when the trace ended.</summary>
    public long UnpairedStarts => _abandonedStarts + _open.Count;

    /// <summary>Stops with no start for their address on their thread.</summary>
    public long UnpairedStops { get; private set; }

    /// <summary>A fault began on <paramref name="threadId"/>.</summary>
    public void Start(int threadId, int arenaId, int spaceId, ulong address, double timeMs)
    {
        if (_open.ContainsKey(threadId))
            _abandonedStarts++;
        _open[threadId] = new OpenFault(arenaId, spaceId, address, timeMs);
    }

    /// <summary>A fault ended on <paramref name="threadId"/>; timed when its start is the thread's open one.</summary>
    public void Stop(int threadId, int arenaId, int spaceId, ulong address, double timeMs, FaultKind kind, int order)
    {
        if (_open.Remove(threadId, out OpenFault start))
        {
            if (start.ArenaId == arenaId && start.SpaceId == spaceId && start.Address == address)
            {
                _samples.Add(new FaultSample((timeMs - start.TimeMs) * 1e6, kind, order));
                return;
            }

            _abandonedStarts++;
        }

        UnpairedStops++;
    }

    private readonly record struct OpenFault(int ArenaId, int SpaceId, ulong Address, double TimeMs);
}

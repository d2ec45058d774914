using System;
using System.Threading;

namespace LargeFolios.BuddyAllocator;

/// <summary>
/// Maps the arena ids carried in <see cref="Folio"/> handles back to their arenas. Ids are never
/// reused, so a handle that outlives its arena finds nothing rather than a stranger. Arenas are
/// held until they are disposed, so none is collected (and its memory freed) while a call
/// reached through a handle still runs on it.
/// </summary>
internal static class ArenaRegistry
{
    /// <summary>Ids fit the 24 bits a handle keeps for them; 0 is the null handle.</summary>
    public const int MaxId = (1 << 24) - 1;

    private static readonly Lock s_lock = new();
    private static Arena?[] s_arenas = new Arena?[64];
    private static int s_lastId;

    /// <summary>
    /// Takes the next id for an arena under construction. The arena is not visible to
    /// <see cref="Find"/> or <see cref="ForEachLive{TState}"/> until <see cref="Publish"/>: its
    /// structures must carry the id before a snapshot or a metric collection can read them.
    /// </summary>
    public static int Reserve()
    {
        AllocatorMetrics.EnsureCreated();

        // Construct the provider now, before any arena lock can be held. Two reasons:
        // - A session already listening enables it inside its constructor, and the enable-time
        //   snapshot takes every arena's zone lock; constructed lazily by a zone's first event, it
        //   would wait on the very lock its own thread holds (dotnet-trace collect -- folios hung so).
        // - Code compiled while the class is uninitialised reaches its statics through a helper
        //   call, and without tiered compilation nothing recompiles it.
        GC.KeepAlive(AllocatorEventSource.Log);
        lock (s_lock)
        {
            if (s_lastId == MaxId)
                throw new InvalidOperationException($"This process has created {MaxId} arenas; folio handles cannot name more.");
            int id = ++s_lastId;
            if (id >= s_arenas.Length)
                Array.Resize(ref s_arenas, s_arenas.Length * 2);
            return id;
        }
    }

    /// <summary>Makes a constructed arena findable by its reserved <paramref name="id"/>.</summary>
    public static void Publish(int id, Arena arena)
    {
        lock (s_lock)
            Volatile.Write(ref s_arenas[id], arena);
    }

    public static void Unregister(int id)
    {
        lock (s_lock)
            s_arenas[id] = null;
    }

    /// <summary>
    /// Calls <paramref name="action"/> on every arena not yet disposed, under the registry's lock:
    /// an arena unregisters before it frees its memory, so none is freed while the action reads
    /// it (the metrics' callbacks and the trace snapshots run on other threads than the owner's).
    /// </summary>
    public static void ForEachLive<TState>(Action<Arena, TState> action, TState state)
    {
        lock (s_lock)
        {
            for (int id = 1; id <= s_lastId; id++)
            {
                if (s_arenas[id] is { } arena)
                    action(arena, state);
            }
        }
    }

    /// <summary>The live arena with <paramref name="id"/>, or null once it is disposed.</summary>
    public static Arena? Find(int id)
    {
        Arena?[] arenas = Volatile.Read(ref s_arenas);
        return (uint)id < (uint)arenas.Length ? Volatile.Read(ref arenas[id]) : null;
    }
}

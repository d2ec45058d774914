namespace LargeFolios.FaultPath;

/// <summary>The commands of a scenario file (docs/scenario-format.md).</summary>
public enum ScenarioVerb
{
    /// <summary><c>thp enabled &lt;always|madvise|never&gt;</c>: the global THP setting.</summary>
    ThpEnabled,

    /// <summary><c>thp &lt;size&gt;kB &lt;always|inherit|madvise|never&gt;</c>: one size's setting.</summary>
    ThpSize,

    /// <summary><c>mmap &lt;addr&gt; &lt;len&gt;</c>: a private anonymous read-write mapping at a fixed address.</summary>
    Mmap,

    /// <summary><c>munmap &lt;addr&gt; &lt;len&gt;</c>.</summary>
    Munmap,

    /// <summary><c>madvise &lt;addr&gt; &lt;len&gt; &lt;hugepage|nohugepage|dontneed|free&gt;</c>.</summary>
    Madvise,

    /// <summary><c>write &lt;addr&gt;</c>: store one byte.</summary>
    Write,

    /// <summary><c>read &lt;addr&gt;</c>: load one byte.</summary>
    Read,

    /// <summary><c>dump</c>: print the layout, then <c>end</c>.</summary>
    Dump,

    /// <summary><c>stats</c>: print the non-zero per-size mTHP counters.</summary>
    Stats,

    /// <summary><c>shrink</c>: run the deferred-split shrinker over the whole queue once (docs/scenario-format.md).</summary>
    Shrink,
}

namespace LargeFolios.FaultPath;

/// <summary>The commands of a scenario file (docs/scenario-format.md).</summary>
public enum ScenarioVerb
{
    /// <summary><c>thp enabled &lt;always|madvise|never&gt;</c>: the global THP setting.</summary>
    ThpEnabled,

    /// <summary><c>thp &lt;size&gt;kB &lt;always|inherit|madvise|never&gt;</c>: one size's setting.</summary>
    ThpSize,

    /// <summary><c>thp &lt;file&gt; &lt;value&gt;</c>: another knob under transparent_hugepage (<see cref="ThpKnob"/>).</summary>
    ThpKnob,

    /// <summary><c>mmap &lt;addr&gt; &lt;len&gt; [rw|r|none]</c>: a private anonymous mapping at a fixed address.</summary>
    Mmap,

    /// <summary><c>munmap &lt;addr&gt; &lt;len&gt;</c>.</summary>
    Munmap,

    /// <summary><c>mprotect &lt;addr&gt; &lt;len&gt; &lt;rw|r|none&gt;</c>.</summary>
    Mprotect,

    /// <summary><c>mremap &lt;old&gt; &lt;oldlen&gt; &lt;newlen&gt; [&lt;newaddr&gt;]</c>: in place, or MREMAP_MAYMOVE | MREMAP_FIXED to newaddr.</summary>
    Mremap,

    /// <summary><c>madvise &lt;addr&gt; &lt;len&gt; &lt;advice&gt;</c>.</summary>
    Madvise,

    /// <summary><c>write &lt;addr&gt;</c>: store one byte.</summary>
    Write,

    /// <summary><c>read &lt;addr&gt;</c>: load one byte.</summary>
    Read,

    /// <summary><c>fork</c>: the current process forks; the child gets the next unused id.</summary>
    Fork,

    /// <summary><c>process &lt;n&gt;</c>: the commands that follow run in process n.</summary>
    Process,

    /// <summary><c>exit</c>: the current process exits; a <c>process</c> command must follow.</summary>
    Exit,

    /// <summary><c>dump</c>: print the current process's layout, then <c>end</c>.</summary>
    Dump,

    /// <summary><c>stats</c>: print the per-size mTHP counters that changed since the start.</summary>
    Stats,

    /// <summary><c>shrink</c>: run the deferred-split shrinker over the whole queue once (docs/scenario-format.md).</summary>
    Shrink,
}

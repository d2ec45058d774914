using System;
using System.Collections.Generic;
using System.IO;

namespace LargeFolios.Fuzz.Engine;

/// <summary>How the in-process engine runs.</summary>
public sealed record FuzzOptions
{
    /// <summary>Seeds every choice; the same seed, corpus and run count give the same inputs.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>How long to mutate after the corpus has run; null: no time bound.</summary>
    public TimeSpan? Duration { get; init; }

    /// <summary>How many mutants to run after the corpus; null: no count bound.</summary>
    public long? Runs { get; init; }

    /// <summary>Folders of seed inputs; null: the target's corpus and regression inputs.</summary>
    public IReadOnlyList<string>? SeedDirectories { get; init; }

    /// <summary>Extra seed inputs (tests plant some).</summary>
    public IReadOnlyList<byte[]> Seeds { get; init; } = [];

    /// <summary>Dictionary tokens; null: the target's dictionary file.</summary>
    public IReadOnlyList<byte[]>? Tokens { get; init; }

    /// <summary>Where findings are written (TARGET/ under it); null: nowhere.</summary>
    public string? FindingsDirectory { get; init; }

    /// <summary>The longest one input may run before it is a hang.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How much the managed heap may grow while inputs run (the resident set: twice that).</summary>
    public long MemoryLimitBytes { get; init; } = 1L << 30;

    /// <summary>Stop at the first finding (else go on, reporting each distinct one once).</summary>
    public bool StopOnFirstFinding { get; init; } = true;

    /// <summary>Shrink each finding's input before it is reported.</summary>
    public bool Minimize { get; init; } = true;

    /// <summary>Progress and findings as they come; null: silent.</summary>
    public TextWriter? Log { get; init; }
}

namespace LargeFolios.Folios.TraceAnalysis;

/// <summary>Why a file could not be read as a trace.</summary>
internal enum TraceFileProblem
{
    /// <summary>No file at that path, or a directory, or no permission to read it.</summary>
    Unreadable,

    /// <summary>Zero bytes: a session that never wrote its header.</summary>
    Empty,

    /// <summary>It does not start with the nettrace magic: some other file.</summary>
    NotANettrace,

    /// <summary>It ends before the stream's end marker: a session that was killed, or a copy cut short.</summary>
    Truncated,

    /// <summary>A nettrace whose blocks do not parse: damaged bytes, or a format this TraceEvent does not know.</summary>
    Corrupt,
}

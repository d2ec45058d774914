using System;

namespace LargeFolios.FaultPath;

/// <summary>
/// A scenario line that does not parse. The message names the file, the line number and what was
/// expected; nothing from that line on has run.
/// </summary>
public sealed class ScenarioSyntaxException : FormatException
{
    /// <summary>Creates the exception.</summary>
    public ScenarioSyntaxException(string message, string file, int line)
        : base(message)
    {
        File = file;
        Line = line;
    }

    /// <summary>Creates the exception with a message only.</summary>
    public ScenarioSyntaxException()
    {
    }

    /// <summary>Creates the exception with a message only.</summary>
    public ScenarioSyntaxException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public ScenarioSyntaxException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The scenario's name as given to the reader (a path, usually).</summary>
    public string File { get; } = "";

    /// <summary>The offending line, from 1.</summary>
    public int Line { get; }
}

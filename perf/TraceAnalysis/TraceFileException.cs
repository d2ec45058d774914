using System;
using System.IO;

namespace LargeFolios.Folios.TraceAnalysis;

/// <summary>
/// A file that cannot be read as an allocator trace. The message is one line that names the file
/// and what is wrong with it, fit to print as it is; <see cref="Exception.InnerException"/> holds
/// TraceEvent's own exception, when there was one, for whoever debugs the reader.
/// </summary>
internal sealed class TraceFileException : IOException
{
    /// <summary>Creates the exception for <paramref name="path"/>.</summary>
    public TraceFileException(string path, TraceFileProblem problem, string detail, Exception? innerException = null)
        : base($"{path}: {detail}", innerException)
    {
        Path = path;
        Problem = problem;
    }

    /// <summary>The file, as the user named it.</summary>
    public string Path { get; }

    /// <summary>What kind of problem it is.</summary>
    public TraceFileProblem Problem { get; }
}

using System;

namespace LargeFolios.FaultPath;

/// <summary>
/// A well-formed scenario command failed when it ran: a load or store outside every mapping
/// (SIGSEGV), or a syscall the kernel would refuse (an unaligned or out-of-range mmap, madvise over
/// nothing mapped). The message names the file, the line and the address.
/// </summary>
public sealed class ScenarioExecutionException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ScenarioExecutionException(string message, string file, int line, ulong address, Exception? innerException)
        : this(message, file, line, address, ScenarioReplayResult.MalformedLine, innerException)
    {
    }

    /// <summary>Creates the exception, naming what failed the command (<see cref="Failure"/>).</summary>
    public ScenarioExecutionException(string message, string file, int line, ulong address, string failure, Exception? innerException)
        : base(message, innerException)
    {
        File = file;
        Line = line;
        Address = address;
        Failure = failure;
    }

    /// <summary>Creates the exception with a default message.</summary>
    public ScenarioExecutionException()
        : this("A scenario command failed.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public ScenarioExecutionException(string message)
        : this(message, string.Empty, 0, 0, null)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public ScenarioExecutionException(string message, Exception innerException)
        : this(message, string.Empty, 0, 0, innerException)
    {
    }

    /// <summary>The scenario file.</summary>
    public string File { get; }

    /// <summary>The line, from 1.</summary>
    public int Line { get; }

    /// <summary>The address the command was given.</summary>
    public ulong Address { get; }

    /// <summary>True when the command was a load or store that would get SIGSEGV.</summary>
    public bool IsSegmentationFault => InnerException is SegmentationFaultException;

    /// <summary>
    /// What failed the command, as <see cref="ScenarioReplayResult.Failure"/> names it: the errno's
    /// name (EINVAL, ENOMEM, ...), <see cref="ScenarioReplayResult.SegmentationFault"/>,
    /// <see cref="ScenarioReplayResult.OutOfMemory"/>, or <see cref="ScenarioReplayResult.MalformedLine"/>
    /// for a command the model cannot run.
    /// </summary>
    public string Failure { get; } = ScenarioReplayResult.MalformedLine;
}

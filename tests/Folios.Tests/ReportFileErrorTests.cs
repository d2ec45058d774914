using System;
using System.IO;
using LargeFolios.Folios.TraceAnalysis;
using Xunit;

namespace LargeFolios.Folios.Tests;

/// <summary>Files that are not traces at all: each a <see cref="TraceFileException"/> that names the file and the problem.</summary>
public sealed class ReportFileErrorTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"folios-report-errors-{Guid.NewGuid():N}");

    public ReportFileErrorTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void A_text_file_is_not_a_nettrace()
    {
        string path = Write("notes.nettrace", "folios report reads traces, not notes\n"u8.ToArray());
        TraceFileException error = Assert.Throws<TraceFileException>(() => AllocatorTrace.Load(path));
        Assert.Equal(TraceFileProblem.NotANettrace, error.Problem);
        Assert.Equal($"{path}: not a nettrace file (it does not begin with \"Nettrace\"); expected a trace from folios trace, dotnet-trace or an EventPipe session", error.Message);
    }

    [Fact]
    public void Random_bytes_are_not_a_nettrace()
    {
        byte[] noise = new byte[4096];
        new Random(17).NextBytes(noise);
        TraceFileException error = Assert.Throws<TraceFileException>(() => AllocatorTrace.Load(Write("noise.nettrace", noise)));
        Assert.Equal(TraceFileProblem.NotANettrace, error.Problem);
    }

    [Fact]
    public void The_magic_alone_is_a_truncated_trace()
    {
        string path = Write("magic.nettrace", "Nettrace"u8.ToArray());
        TraceFileException error = Assert.Throws<TraceFileException>(() => AllocatorTrace.Load(path));
        Assert.Equal(TraceFileProblem.Truncated, error.Problem);
        Assert.Equal($"{path}: truncated trace: the file ends at byte 8, inside the serialization header; 0 blocks before it are complete; was the session stopped before the file was complete?", error.Message);
    }

    [Fact]
    public void An_empty_file_says_it_is_empty()
    {
        string path = Write("empty.nettrace", []);
        TraceFileException error = Assert.Throws<TraceFileException>(() => AllocatorTrace.Load(path));
        Assert.Equal(TraceFileProblem.Empty, error.Problem);
        Assert.Equal($"{path}: the file is empty (0 bytes): was the trace session ever started?", error.Message);
    }

    [Fact]
    public void A_missing_file_says_so()
    {
        string path = Path.Combine(_directory, "absent.nettrace");
        TraceFileException error = Assert.Throws<TraceFileException>(() => AllocatorTrace.Load(path));
        Assert.Equal(TraceFileProblem.Unreadable, error.Problem);
        Assert.Equal($"{path}: no such file", error.Message);
    }

    [Fact]
    public void A_directory_is_not_a_trace_file()
    {
        TraceFileException error = Assert.Throws<TraceFileException>(() => AllocatorTrace.Load(_directory));
        Assert.Equal(TraceFileProblem.Unreadable, error.Problem);
        Assert.Equal($"{_directory}: a directory, not a trace file", error.Message);
    }

    private string Write(string name, byte[] bytes)
    {
        string path = Path.Combine(_directory, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }
}

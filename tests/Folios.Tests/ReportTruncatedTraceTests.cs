using System;
using System.IO;
using LargeFolios.Folios.TraceAnalysis;
using Xunit;

namespace LargeFolios.Folios.Tests;

/// <summary>
/// The real trace cut short or damaged: a cut anywhere, even of the last byte alone, is a
/// <see cref="TraceFileProblem.Truncated"/> error, never a report of the events before the cut;
/// damaged bytes are an error or go unnoticed (nettrace has no checksums), but never another
/// exception.
/// </summary>
[Collection(ReportEventPipeCollection.Name)]
public sealed class ReportTruncatedTraceTests(ReportTraceFixture fixture)
{
    [Theory]
    [InlineData(16)]       // inside the FastSerialization header
    [InlineData(100)]      // inside the trace object
    [InlineData(-3)]       // inside the last block
    [InlineData(-1)]       // only the end-of-stream marker missing
    public void A_trace_cut_at_a_byte_is_truncated(int keep)
    {
        byte[] whole = File.ReadAllBytes(fixture.TracePath);
        AssertTruncated(Cut(whole, keep < 0 ? whole.Length + keep : keep));
    }

    [Theory]
    [InlineData(0.25)]
    [InlineData(0.5)]
    [InlineData(0.9)]
    public void A_trace_cut_at_a_fraction_is_truncated(double fraction)
    {
        byte[] whole = File.ReadAllBytes(fixture.TracePath);
        AssertTruncated(Cut(whole, (int)(whole.Length * fraction)));
    }

    [Fact]
    public void A_trace_that_reads_whole_without_the_end_marker_is_reported_with_a_doubt()
    {
        // Bytes after the end-of-stream marker: TraceEvent stops at the marker and never sees them.
        byte[] whole = File.ReadAllBytes(fixture.TracePath);
        string path = Path.Combine(fixture.Directory, "trailing.nettrace");
        File.WriteAllBytes(path, [.. whole, 0]);

        AllocatorTrace trace = AllocatorTrace.Load(path, fixture.ArenaId);
        Assert.Equal(fixture.Allocations, trace.Allocations.AllocatedByOrder.Total);
        Assert.Equal("the file does not end with the end-of-stream marker (byte 1): it may be truncated", Assert.Single(trace.Warnings));
    }

    [Fact]
    public void Damaged_bytes_give_a_trace_or_a_trace_file_error()
    {
        byte[] whole = File.ReadAllBytes(fixture.TracePath);
        var random = new Random(2026);
        for (int attempt = 0; attempt < 24; attempt++)
        {
            byte[] damaged = (byte[])whole.Clone();
            int at = random.Next(8, damaged.Length - 1);
            for (int i = at; i < Math.Min(at + 8, damaged.Length - 1); i++)
                damaged[i] = (byte)random.Next(256);
            string path = Path.Combine(fixture.Directory, $"damaged-{attempt}.nettrace");
            File.WriteAllBytes(path, damaged);

            Exception? error = Record.Exception(() => AllocatorTrace.Load(path));
            Assert.True(error is null or TraceFileException, $"damage at byte {at}: {error}");
            if (error is not null)
                Assert.StartsWith($"{path}: ", error.Message);
        }
    }

    private string Cut(byte[] whole, int length)
    {
        string path = Path.Combine(fixture.Directory, $"cut-{length}.nettrace");
        File.WriteAllBytes(path, whole.AsSpan(0, length).ToArray());
        return path;
    }

    private static void AssertTruncated(string path)
    {
        TraceFileException error = Assert.Throws<TraceFileException>(() => AllocatorTrace.Load(path));
        Assert.Equal(TraceFileProblem.Truncated, error.Problem);
        Assert.StartsWith($"{path}: truncated trace: it ends before the end-of-stream marker, after ", error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }
}

using System;
using System.IO;
using LargeFolios.Folios.TraceAnalysis;
using Xunit;

namespace LargeFolios.Folios.Tests;

/// <summary>
/// The real trace cut short or damaged: a cut anywhere, even of the last byte alone, is a
/// <see cref="TraceFileProblem.Truncated"/> error naming where, never a report of the events
/// before the cut; bytes the block structure does not allow are <see cref="TraceFileProblem.Corrupt"/>;
/// damage inside a block is an error or goes unnoticed (nettrace has no checksums), but never
/// another exception.
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
    public void Bytes_after_the_end_marker_are_damage_not_a_trace()
    {
        // TraceEvent stops at the marker and would never see them; no session writes them.
        byte[] whole = File.ReadAllBytes(fixture.TracePath);
        string path = Path.Combine(fixture.Directory, "trailing.nettrace");
        File.WriteAllBytes(path, [.. whole, 0]);

        TraceFileException error = Assert.Throws<TraceFileException>(() => AllocatorTrace.Load(path, fixture.ArenaId));
        Assert.Equal(TraceFileProblem.Corrupt, error.Problem);
        Assert.Contains($"at byte {whole.Length - 1}: a byte follows the end-of-stream marker", error.Message);
    }

    [Theory]
    [InlineData(0x66)]       // just after the Trace object: where the first block begins
    [InlineData(-200)]       // inside the last blocks
    public void A_valid_start_followed_by_random_bytes_is_corrupt_not_truncated(int keep)
    {
        byte[] whole = File.ReadAllBytes(fixture.TracePath);
        int start = keep < 0 ? whole.Length + keep : keep;
        var random = new Random(12);
        for (int attempt = 0; attempt < 8; attempt++)
        {
            byte[] damaged = whole.AsSpan(0, start).ToArray();
            byte[] noise = new byte[4096];
            random.NextBytes(noise);
            noise[0] = 0x99;   // neither a block (5) nor the end marker (1)
            string path = Path.Combine(fixture.Directory, $"noise-{start}-{attempt}.nettrace");
            File.WriteAllBytes(path, [.. damaged, .. noise]);

            TraceFileException error = Assert.Throws<TraceFileException>(() => AllocatorTrace.Load(path));
            if (keep > 0)
            {
                Assert.Equal(TraceFileProblem.Corrupt, error.Problem);
                Assert.StartsWith($"{path}: corrupt trace: at byte {start}: byte 0x99 where a block or the end marker (5 or 1) should begin (0 blocks before it are well formed)", error.Message);
            }
            else
            {
                // Inside a block, noise may still declare a length past the end of the file: a cut
                // is all the structure can tell then, but it is never a report.
                Assert.Contains(error.Problem, new[] { TraceFileProblem.Corrupt, TraceFileProblem.Truncated });
            }
        }
    }

    [Fact]
    public void A_metadata_field_count_no_block_could_hold_is_corrupt_before_TraceEvent_allocates_it()
    {
        // Damage AFL++ found: TraceEvent allocates the declared count (gigabytes) before reading a field.
        byte[] whole = File.ReadAllBytes(fixture.TracePath);
        int metadata = 0x66 + 1;   // the first block's type begins after its BeginPrivateObject tag
        Assert.Equal("MetadataBlock", System.Text.Encoding.ASCII.GetString(whole, metadata + 14, 13));
        int payload = FirstFieldCountOffset(whole);
        byte[] damaged = (byte[])whole.Clone();
        BitConverter.GetBytes(0x49000000).CopyTo(damaged, payload);
        string path = Path.Combine(fixture.Directory, "field-count.nettrace");
        File.WriteAllBytes(path, damaged);

        TraceFileException error = Assert.Throws<TraceFileException>(() => AllocatorTrace.Load(path));
        Assert.Equal(TraceFileProblem.Corrupt, error.Problem);
        Assert.Contains("declares 1224736768 fields in", error.Message);
    }

    /// <summary>Where the first metadata event's field count lies: after "LargeFolios-..." name, event id, event name, keywords, version and level.</summary>
    private static int FirstFieldCountOffset(byte[] trace)
    {
        byte[] provider = System.Text.Encoding.Unicode.GetBytes("LargeFolios-");
        int at = trace.AsSpan().IndexOf(provider);
        Assert.True(at > 0);
        at = SkipUtf16Z(trace, at) + 4;       // provider name, event id
        at = SkipUtf16Z(trace, at) + 8 + 4 + 4;   // event name, keywords, version, level
        return at;
    }

    private static int SkipUtf16Z(byte[] data, int at)
    {
        while (data[at] != 0 || data[at + 1] != 0)
            at += 2;
        return at + 2;
    }

    [Fact]
    public void A_cut_says_how_many_blocks_before_it_are_complete()
    {
        byte[] whole = File.ReadAllBytes(fixture.TracePath);
        TraceFileException error = Assert.Throws<TraceFileException>(() => AllocatorTrace.Load(Cut(whole, whole.Length - 3)));
        Assert.Matches(@"truncated trace: the file ends at byte \d+, inside [A-Za-z]+Block (\d+) \(it begins at byte \d+ and declares \d+ bytes, \d+ of them present\); (\d+) blocks before it are complete;", error.Message);
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
        Assert.StartsWith($"{path}: truncated trace: the file ends ", error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }
}

using System;
using System.Linq;
using LargeFolios.Folios.Cli;
using Xunit;

namespace LargeFolios.Folios.Tests;

public sealed class ScaleCommandTests
{
    [Fact]
    public void Scale_measures_every_order_at_every_thread_count()
    {
        CliRun run = FoliosCli.Run("scale", "--threads", "2", "--per-thread", "2M", "--populate");

        Assert.Equal(ExitCodes.Success, run.ExitCode);
        Assert.Equal("", run.Error);
        Assert.Contains("MADV_POPULATE_WRITE per thread", run.Output, StringComparison.Ordinal);
        string[] rows = run.Output.Split('\n').Where(line => line.StartsWith('│') && !line.Contains("threads", StringComparison.Ordinal)).ToArray();
        Assert.Equal(6, rows.Length);   // orders 0, 4, 9 at 1 and 2 threads
    }

    [Theory]
    [InlineData(1, new[] { 1 })]
    [InlineData(2, new[] { 1, 2 })]
    [InlineData(6, new[] { 1, 2, 4, 6 })]
    [InlineData(16, new[] { 1, 2, 4, 8, 16 })]
    public void Thread_counts_double_up_to_the_maximum(int max, int[] expected) =>
        Assert.Equal(expected, Scaling.ScalingRun.ThreadCounts(max));
}

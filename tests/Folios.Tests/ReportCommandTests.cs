using System.CommandLine;
using System.IO;
using System.Linq;
using LargeFolios.Folios.Commands;
using LargeFolios.Folios.TraceAnalysis;
using Xunit;

namespace LargeFolios.Folios.Tests;

/// <summary><c>folios report</c> as the command line runs it: exit codes, standard error, the PNG.</summary>
[Collection(ReportEventPipeCollection.Name)]
public sealed class ReportCommandTests(ReportTraceFixture fixture)
{
    [Fact]
    public void A_trace_is_reported_with_exit_0()
    {
        (int exit, string output, string error) = Run(fixture.TracePath, "--arena", fixture.ArenaId.ToString(System.Globalization.CultureInfo.InvariantCulture));

        Assert.Equal(0, exit);
        Assert.Equal("", error);
        Assert.StartsWith($"{fixture.TracePath}: ", output);
        Assert.Contains("── Fault latency", output);
    }

    [Fact]
    public void Plot_writes_one_png_with_both_panels()
    {
        string png = Path.Combine(fixture.Directory, "report.png");
        (int exit, string output, string error) = Run(fixture.TracePath, "--plot", png);

        Assert.Equal(0, exit);
        Assert.Equal("", error);
        Assert.Contains($"Plot: {png} (left: folios allocated per order; right: buddy free pages per order over time).", output);
        byte[] bytes = File.ReadAllBytes(png);
        Assert.True(bytes.Length > 10_000, $"{bytes.Length} bytes");
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes.Take(4));

        // The IHDR chunk's width and height, big-endian at bytes 16 and 20.
        Assert.Equal((TracePlot.Width, TracePlot.Height), (BigEndian(bytes, 16), BigEndian(bytes, 20)));
    }

    [Fact]
    public void A_trace_without_snapshots_or_allocations_still_plots()
    {
        string png = Path.Combine(fixture.Directory, "empty.png");
        (int exit, _, string error) = Run(fixture.EmptySessionPath, "--plot", png);
        Assert.Equal((0, ""), (exit, error));
        Assert.True(new FileInfo(png).Length > 0);
    }

    [Fact]
    public void A_truncated_trace_is_exit_2_and_one_line_on_standard_error()
    {
        byte[] whole = File.ReadAllBytes(fixture.TracePath);
        string cut = Path.Combine(fixture.Directory, "half.nettrace");
        File.WriteAllBytes(cut, whole[..(whole.Length / 2)]);

        (int exit, string output, string error) = Run(cut);

        Assert.Equal(2, exit);
        Assert.Equal("", output);
        Assert.StartsWith($"folios report: {cut}: truncated trace: the file ends at byte {whole.Length / 2}, inside ", error);
        Assert.Equal(1, error.Count(c => c == '\n'));
    }

    [Fact]
    public void A_missing_file_is_exit_2()
    {
        string missing = Path.Combine(fixture.Directory, "absent.nettrace");
        (int exit, string output, string error) = Run(missing);
        Assert.Equal((2, "", $"folios report: {missing}: no such file\n"), (exit, output, error));
    }

    [Fact]
    public void A_plot_that_cannot_be_written_is_exit_2()
    {
        string png = Path.Combine(fixture.Directory, "no-such-folder", "plot.png");
        (int exit, _, string error) = Run(fixture.TracePath, "--plot", png);
        Assert.Equal(2, exit);
        Assert.StartsWith($"folios report: {png}: cannot write the plot: ", error);
    }

    [Fact]
    public void A_plot_path_that_is_a_directory_is_refused_before_the_report()
    {
        string directory = Directory.CreateDirectory(Path.Combine(fixture.Directory, "folder.png")).FullName;
        (int exit, string output, string error) = Run(fixture.TracePath, "--plot", directory);
        Assert.Equal((2, ""), (exit, output));
        Assert.StartsWith($"folios report: {directory}: cannot write the plot: it is a directory; expected a file name such as ", error);
    }

    [Theory]
    [InlineData("/dev/zero", "not a nettrace file (it does not begin with \"Nettrace\")")]
    [InlineData("/dev/null", "the file is empty (0 bytes)")]
    [InlineData("/tmp", "a directory, not a trace file")]
    [InlineData("", "the file name is empty")]
    public void What_is_not_a_trace_file_says_what_it_is(string path, string why)
    {
        (int exit, string output, string error) = Run(path);
        Assert.Equal((2, ""), (exit, output));
        Assert.Contains(why, error);
        Assert.Equal(1, error.Count(c => c == '\n'));
    }

    private static (int Exit, string Output, string Error) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter { NewLine = "\n" };
        Command command = ReportCommand.Create(ReportTestConsole.Into(output), error);
        int exit = command.Parse(args).Invoke();
        return (exit, output.ToString(), error.ToString());
    }

    private static int BigEndian(byte[] bytes, int at) => (bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3];
}

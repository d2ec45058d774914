using System.IO;
using LargeFolios.Folios.Cli;
using Spectre.Console;

namespace LargeFolios.Folios.Tests;

/// <summary>A Spectre console that writes plain text into a string: the tool's own capture console (<see cref="CliConsole.ForCapture"/>), on a page of the test's width.</summary>
internal static class ReportTestConsole
{
    public static IAnsiConsole Into(StringWriter output, int width = 160) => CliConsole.ForCapture(output, new StringWriter(), width).Out;
}

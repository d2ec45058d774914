using System.IO;
using LargeFolios.Folios.Cli;

namespace LargeFolios.Folios.Tests;

/// <summary>Runs the folios command line in-process with its output captured.</summary>
internal static class FoliosCli
{
    public static CliRun Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exitCode = Program.Run(args, CliConsole.ForCapture(output, error));
        return new CliRun(exitCode, output.ToString(), error.ToString());
    }
}

/// <summary>What a command line did: its exit status and everything it wrote.</summary>
internal sealed record CliRun(int ExitCode, string Output, string Error);

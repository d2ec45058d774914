using System;
using System.CommandLine;
using System.CommandLine.Parsing;
using System.Linq;

namespace LargeFolios.Folios.Cli;

/// <summary>
/// Parses and runs a command line: a malformed one is reported on standard error, one line per
/// problem naming the bad value and what was expected, with exit status 2 and nothing run
/// (System.CommandLine's own handler would print the whole help and exit 1).
/// </summary>
internal static class CommandLineHost
{
    /// <summary>Runs <paramref name="args"/> against <paramref name="root"/>, writing to <paramref name="console"/>.</summary>
    /// <returns>The command's exit status, or <see cref="ExitCodes.Usage"/> for a malformed command line.</returns>
    public static int Invoke(RootCommand root, string[] args, CliConsole console)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(console);
        try
        {
            ParseResult parsed = root.Parse(args);
            if (parsed.Errors.Count > 0)
                return ReportErrors(parsed, console);

            return parsed.Invoke(new InvocationConfiguration
            {
                Output = console.Out.Profile.Out.Writer,
                Error = console.Error,
            });
        }
        finally
        {
            console.RawOut.Flush();
        }
    }

    private static int ReportErrors(ParseResult parsed, CliConsole console)
    {
        foreach (ParseError error in parsed.Errors.DistinctBy(e => e.Message))
            console.Error.WriteLine($"folios: {error.Message}");

        Command command = parsed.CommandResult.Command;
        string path = command is RootCommand ? "folios" : $"folios {command.Name}";
        if (command.Subcommands.Count > 0)
            console.Error.WriteLine($"Commands: {string.Join(", ", command.Subcommands.Select(c => c.Name))}; no command runs the main job.");
        console.Error.WriteLine($"See '{path} --help'.");
        return ExitCodes.Usage;
    }
}

using System;
using System.CommandLine;
using LargeFolios.Folios.Cli;
using LargeFolios.Folios.Commands;

namespace LargeFolios.Folios;

/// <summary>
/// The <c>folios</c> command line: the main job as the root's own action, and a command per job.
/// Adding a command is adding its line to <see cref="CreateRoot"/>.
/// </summary>
internal static class Program
{
    /// <summary>The whole command tree, writing to <paramref name="console"/>.</summary>
    public static RootCommand CreateRoot(CliConsole console)
    {
        RootCommand root = MainJobCommand.Create(console);
        root.Add(RunCommand.Create(console));
        root.Add(ReplayCommand.Create(console));
        root.Add(FuzzCommand.Create(console));
        root.Add(ScaleCommand.Create(console));
        root.Add(TraceCommand.Create(console));
        root.Add(ReportCommand.Create(console));
        return root;
    }

    /// <summary>Runs <paramref name="args"/> as the process would, writing to <paramref name="console"/>; a malformed <see cref="HostMemoryVariable.Name"/> is a usage error.</summary>
    public static int Run(string[] args, CliConsole console)
    {
        if (HostMemoryVariable.Apply(Environment.GetEnvironmentVariable(HostMemoryVariable.Name)) is { } problem)
        {
            console.Error.WriteLine($"folios: {problem}.");
            return ExitCodes.Usage;
        }

        return CommandLineHost.Invoke(CreateRoot(console), args, console);
    }

    private static int Main(string[] args) => Run(args, CliConsole.ForProcess());
}

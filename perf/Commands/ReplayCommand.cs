using System;
using System.CommandLine;
using LargeFolios.FaultPath;
using LargeFolios.Folios.Cli;

namespace LargeFolios.Folios.Commands;

/// <summary>
/// <c>folios replay FILE</c>: runs a scenario (docs/scenario-format.md) through the fault path and prints
/// what its <c>dump</c> and <c>stats</c> lines print, exactly as Linux 6.18 would: plain text, no
/// decoration, byte for byte what the scenario's .expected file holds. Exit 0; 1 when a command
/// fails (an access outside every mapping); 2 when a line is malformed or the file unreadable.
/// </summary>
internal static class ReplayCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create(CliConsole console)
    {
        ArgumentNullException.ThrowIfNull(console);
        var file = new Argument<string>("FILE") { Description = "The scenario file." };
        var command = new Command("replay", "Replay a scenario file and print what its dump and stats commands print.") { file };
        command.SetAction(parsed => ScenarioRunner.Replay(parsed.GetValue(file)!, console.RawOut, console.Error));
        return command;
    }
}

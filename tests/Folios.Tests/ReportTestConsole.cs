using System.IO;
using Spectre.Console;

namespace LargeFolios.Folios.Tests;

/// <summary>A Spectre console that writes plain text into a string: no colours, no cursor tricks, a wide page.</summary>
internal static class ReportTestConsole
{
    public static IAnsiConsole Into(StringWriter output, int width = 160)
    {
        output.NewLine = "\n";
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        console.Profile.Width = width;
        return console;
    }
}

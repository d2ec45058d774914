using System;
using System.IO;
using Spectre.Console;

namespace LargeFolios.Folios.Cli;

/// <summary>
/// Where commands write: reports to <see cref="Out"/> (Spectre tables), raw text that must stay
/// byte-exact to <see cref="RawOut"/> (scenario dumps), messages to <see cref="Error"/>, and
/// progress bars through <see cref="Progress"/>. The process gets the real streams; tests get
/// strings.
/// </summary>
internal sealed class CliConsole
{
    // Piped reports are read by people later (or by diff), not squeezed into an 80-column guess.
    private const int RedirectedWidth = 160;

    private CliConsole(IAnsiConsole output, TextWriter rawOut, TextWriter error, ProgressDisplay progress)
    {
        Out = output;
        RawOut = rawOut;
        Error = error;
        Progress = progress;
    }

    /// <summary>Reports: tables and headings.</summary>
    public IAnsiConsole Out { get; }

    /// <summary>Standard output as plain text, buffered, with "\n" line ends; flushed when the command ends.</summary>
    public TextWriter RawOut { get; }

    /// <summary>Error messages, their control characters escaped (<see cref="EscapingWriter"/>).</summary>
    public TextWriter Error { get; }

    /// <summary>Progress bars for long jobs (drawn only on an interactive standard error).</summary>
    public ProgressDisplay Progress { get; }

    /// <summary>The process's standard streams.</summary>
    public static CliConsole ForProcess()
    {
        IAnsiConsole output = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });
        if (Console.IsOutputRedirected)
            output.Profile.Width = RedirectedWidth;

        // Replay prints hundreds of thousands of short lines: Console.Out's flush per write would
        // cost more than the replay itself.
        var rawOut = new StreamWriter(Console.OpenStandardOutput()) { AutoFlush = false, NewLine = "\n" };

        // Spectre judges a console's interactivity by standard output, which a report is often
        // piped from; the bar goes to standard error, so that is the terminal that counts.
        ProgressDisplay progress = ProgressDisplay.None;
        if (!Console.IsErrorRedirected && Environment.GetEnvironmentVariable("TERM") != "dumb")
        {
            progress = new ProgressDisplay(AnsiConsole.Create(new AnsiConsoleSettings
            {
                Out = new AnsiConsoleOutput(Console.Error),
                Ansi = AnsiSupport.Yes,
                Interactive = InteractionSupport.Yes,
            }));
        }

        return new CliConsole(output, rawOut, new EscapingWriter(Console.Error), progress);
    }

    /// <summary>Captures everything in <paramref name="output"/> and <paramref name="error"/>: no colours, no progress, a wide page.</summary>
    public static CliConsole ForCapture(StringWriter output, StringWriter error, int width = 200)
    {
        ArgumentNullException.ThrowIfNull(output);
        output.NewLine = "\n";
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        console.Profile.Width = width;
        return new CliConsole(console, output, new EscapingWriter(error), ProgressDisplay.None);
    }
}

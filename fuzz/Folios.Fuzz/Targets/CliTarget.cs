using System;
using System.Collections.Generic;
using System.CommandLine;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using LargeFolios.Folios.Cli;
using FoliosProgram = LargeFolios.Folios.Program;

namespace LargeFolios.Fuzz.Targets;

/// <summary>
/// The folios command line, <c>Program.Run(args, console)</c>: the input is an argument vector, one
/// argument per line (a final newline ends the last argument; an empty line is an empty argument).
/// A few words stand for files the target provides: <c>@scenario</c> (the design example),
/// <c>@bad-scenario</c> (a malformed line), <c>@failing-scenario</c> (a store outside every
/// mapping), <c>@trace</c> (a corpus trace), <c>@not-a-trace</c>, <c>@empty</c>, <c>@missing</c>,
/// <c>@dir</c>, <c>@png</c>. Checks: nothing escapes <c>Program.Run</c> (<c>exception</c>),
/// no command ends in System.CommandLine's handler for an exception (<c>unhandled</c>), the exit
/// status is one of <see cref="ExitCodes"/> (<c>exit-code</c>), and nothing printed holds a
/// control character (<c>echo</c>).
/// </summary>
/// <remarks>
/// Every vector is parsed, so every option's parser and validator (sizes, policies, keywords) is
/// fuzzed, and every vector that is malformed or asks for help is run. A well-formed job is not
/// run, except <c>replay</c> and <c>report</c>: a job's cost is what its arguments ask for
/// (<c>run -s 1T --metadata-only false</c>, <c>scale --threads 4096</c>; <c>trace</c> starts a
/// child process), so running them would turn every big job into a false hang or memory finding.
/// The command line runs in the target's scratch folder, where a relative <c>--plot</c> writes
/// (<c>@FILE</c> is a plain word: the tool's parser reads no response files). A NUL byte is
/// dropped from the arguments: a process's argv cannot hold one, so no shell can give folios one.
/// </remarks>
public sealed class CliTarget : IFuzzTarget, IDisposable
{
    // The design example, as the test scenarios hold it (the project copies them beside the harness as its scenario corpus).
    private static readonly string DesignExamplePath = Path.Combine(AppContext.BaseDirectory, "corpus", "scenario", "01-design-example.scenario");

    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    private readonly Scratch _scratch = new("cli");
    private readonly Dictionary<string, byte[]> _files = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _words = new(StringComparer.Ordinal);

    /// <summary>Creates the target; <paramref name="trace"/> is the trace <c>@trace</c> names (a corpus trace).</summary>
    public CliTarget(byte[]? trace = null)
    {
        _files["design.scenario"] = File.ReadAllBytes(DesignExamplePath);
        _files["bad.scenario"] = Utf8.GetBytes("mmap 0x40000000 4M\nwrite 0x40000000 extra\n");
        _files["failing.scenario"] = Utf8.GetBytes("mmap 0x40000000 4M\nwrite 0x80000000\ndump\n");
        _files["trace.nettrace"] = trace ?? [];
        _files["not-a-trace.nettrace"] = Utf8.GetBytes("not a trace\n");
        _files["empty"] = [];
        _words["@scenario"] = _scratch.File("design.scenario");
        _words["@bad-scenario"] = _scratch.File("bad.scenario");
        _words["@failing-scenario"] = _scratch.File("failing.scenario");
        _words["@trace"] = _scratch.File("trace.nettrace");
        _words["@not-a-trace"] = _scratch.File("not-a-trace.nettrace");
        _words["@empty"] = _scratch.File("empty");
        _words["@missing"] = _scratch.File("missing.scenario");
        _words["@dir"] = _scratch.Path;
        _words["@png"] = _scratch.File("plot.png");
    }

    public string Name => "cli";

    public bool IsText => true;

    public int MaxInputBytes => 16 << 10;

    /// <summary>The argument vector an input stands for, before the @ words are replaced.</summary>
    public static string[] Arguments(byte[] input)
    {
        ArgumentNullException.ThrowIfNull(input);
        string text = Utf8.GetString(input);
        if (text.EndsWith('\n'))
            text = text[..^1];
        return input.Length == 0 ? [] : text.Replace("\0", "", StringComparison.Ordinal).Split('\n');
    }

    public string Run(byte[] input, CancellationToken abandoned)
    {
        string[] args = Arguments(input).Select(a => _words.GetValueOrDefault(a, a)).ToArray();
        Refresh();
        using var output = new StringWriter();
        using var error = new StringWriter();
        int status;
        string directory = Environment.CurrentDirectory;
        Environment.CurrentDirectory = _scratch.Path;
        try
        {
            // Parsing alone first, on a console of its own: it decides whether the vector may run.
            using (var parseOut = new StringWriter())
            using (var parseError = new StringWriter())
            {
                ParseResult parsed = CommandLineHost.Parse(FoliosProgram.CreateRoot(CliConsole.ForCapture(parseOut, parseError)), args);
                Command command = parsed.CommandResult.Command;
                if (parsed.Errors.Count == 0 && ReferenceEquals(parsed.Action, command.Action) && command.Name is not ("replay" or "report"))
                    return $"parsed:{command.Name}";
            }

            status = FoliosProgram.Run(args, CliConsole.ForCapture(output, error));
        }
        finally
        {
            Environment.CurrentDirectory = directory;
        }

        string errors = error.ToString();
        int unhandled = errors.IndexOf("Unhandled exception:", StringComparison.Ordinal);
        if (unhandled >= 0)
        {
            string report = errors[unhandled..];
            string type = report["Unhandled exception:".Length..].TrimStart().Split(':', 2)[0].Trim();
            Checks.Fail("unhandled", $"an exception escaped the command (System.CommandLine's handler printed it, exit {status}): {TextChecks.Escape(report.Split('\n').Take(6).Aggregate((a, b) => a + "\n" + b))}", detail: type);
        }

        if (status is not (ExitCodes.Success or ExitCodes.Failure or ExitCodes.Usage))
            Checks.Fail("exit-code", $"exit status {status}, not 0, 1 or 2");
        TextChecks.Printable("echo", "standard error", errors, multiline: true, maxChars: int.MaxValue);
        TextChecks.Printable("echo", "standard output", output.ToString(), multiline: true, maxChars: int.MaxValue);
        return $"ran:{args.FirstOrDefault()}:{status}:{TextChecks.Shape(errors.Split('\n')[0])}";
    }

    public void Dispose() => _scratch.Dispose();

    /// <summary>The target's files as they were (a command may have overwritten one), and nothing else.</summary>
    private void Refresh()
    {
        foreach (string file in Directory.EnumerateFileSystemEntries(_scratch.Path))
        {
            if (_files.ContainsKey(Path.GetFileName(file)))
                continue;
            if (Directory.Exists(file))
                Directory.Delete(file, recursive: true);
            else
                File.Delete(file);
        }

        foreach ((string name, byte[] bytes) in _files)
            File.WriteAllBytes(_scratch.File(name), bytes);
    }
}

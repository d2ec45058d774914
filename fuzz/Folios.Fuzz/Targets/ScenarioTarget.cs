using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using System.Threading;
using LargeFolios.FaultPath;

namespace LargeFolios.Fuzz.Targets;

/// <summary>
/// The scenario reader and runner: the input is a scenario file. Checks: only the documented
/// exceptions (<see cref="AllowedExceptions.Scenario"/>), their messages printable and bounded
/// (<c>message</c>), every invariant of the machine after the run (<c>validate</c>), and the same
/// bytes followed by an endless line read in bounded memory (<c>endless-line</c>).
/// </summary>
/// <remarks>
/// A well-formed scenario may legitimately ask for a lot: <c>madvise 0 64T populate_read</c> maps
/// page after page until the arena has no page left for a page table, and on a metadata-only
/// arena each page-table page also costs 4 KiB of host memory for its entries. So the runner is
/// bounded twice, and a per-input time or memory finding means a real hang or leak, not a big
/// job. The arena is 16 MiB, metadata only, instead of <c>folios replay</c>'s 4 GiB
/// (<see cref="ScenarioRunner.DefaultArenaBytes"/>): a command then maps at most 4,096 table
/// pages' worth, about two million entries (some 50 ms), and takes at most 16 MiB of host memory,
/// before it ends in the documented out-of-memory <see cref="ScenarioExecutionException"/>, where
/// with 4 GiB one line takes seconds and gigabytes. And at most <see cref="MaxHeavyCommands"/>
/// commands whose cost grows with what is mapped (populate, dump) run per input; later ones are
/// still read, so the reader sees every line, but not run. Everything else costs a page or a walk
/// over holes, and lines are run as the reader yields them, so memory does not grow with the
/// number of lines. The corpus scenarios all fit in 16 MiB, and none has that many heavy commands.
/// </remarks>
public sealed class ScenarioTarget : IFuzzTarget
{
    /// <summary>The runner's arena (see the remarks).</summary>
    public const long ArenaBytes = 16L << 20;

    /// <summary>The most populate and dump commands run for one input (see the remarks).</summary>
    public const int MaxHeavyCommands = 16;

    /// <summary>The name the input goes by in messages.</summary>
    public const string FileName = "fuzz.scenario";

    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    public string Name => "scenario";

    public bool IsText => true;

    public int MaxInputBytes => 256 << 10;

    public string Run(byte[] input, CancellationToken abandoned)
    {
        ArgumentNullException.ThrowIfNull(input);
        string outcome = RunScenario(input);
        if (!Checks.IsSkipped("endless-line"))
            ReadWithEndlessLine(input);
        return outcome;
    }

    private static string RunScenario(byte[] input)
    {
        // As ScenarioReader.ReadFile reads a file: UTF-8 unless a byte-order mark says otherwise.
        using var reader = new StreamReader(new MemoryStream(input, writable: false), Utf8, detectEncodingFromByteOrderMarks: true);
        using var runner = new ScenarioRunner(TextWriter.Null, ArenaBytes);
        var verbs = new HashSet<ScenarioVerb>();
        string outcome;
        try
        {
            // What ScenarioRunner.Run does (Execute, command by command), with the heavy commands counted.
            int heavy = 0;
            foreach (ScenarioCommand command in ScenarioReader.Read(reader, FileName))
            {
                verbs.Add(command.Verb);
                if (IsHeavy(command) && ++heavy > MaxHeavyCommands)
                    continue;
                runner.Execute(command, FileName);
            }

            outcome = heavy > MaxHeavyCommands ? "ok-bounded" : "ok";
        }
        catch (Exception e) when (AllowedExceptions.IsAllowed(e, AllowedExceptions.Scenario))
        {
            CheckMessage(e);
            outcome = $"{e.GetType().Name}:{e.InnerException?.GetType().Name}:{TextChecks.Shape(e.Message)}";
        }

        try
        {
            runner.Machine.Validate();
        }
        catch (Exception e) when (e is not FindingException)
        {
            Checks.Fail("validate", $"the machine is inconsistent after the scenario ran ({outcome}): {e.GetType().FullName}: {e.Message}", e, e.GetType().FullName);
        }

        var sorted = new List<ScenarioVerb>(verbs);
        sorted.Sort();
        return $"{outcome}|{string.Join(',', sorted)}";
    }

    /// <summary>
    /// The reader over the input and then an endless line (/dev/zero after it): it must end in a
    /// <see cref="ScenarioSyntaxException"/> (a line too long, or any malformed line before it),
    /// having read a bounded amount of the endless line. Commands are only parsed, not run.
    /// </summary>
    private static void ReadWithEndlessLine(byte[] input)
    {
        using var reader = new StreamReader(new EndlessStream(input), Utf8, detectEncodingFromByteOrderMarks: true);
        try
        {
            foreach (ScenarioCommand command in ScenarioReader.Read(reader, FileName))
                _ = command;
            Checks.Fail("endless-line", "the reader came to the end of an endless input");
        }
        catch (ScenarioSyntaxException e)
        {
            CheckMessage(e);
        }
        catch (EndlessStreamExhaustedException e)
        {
            Checks.Fail("endless-line",
                $"the reader took {EndlessStream.Budget >> 20} MiB of one line without a newline and asked for more: a line has no length bound, so a file such as /dev/zero grows its memory without bound",
                e);
        }
    }

    private static void CheckMessage(Exception e)
    {
        // "fuzz.scenario:12: what": the file and line are the message's prefix.
        int prefix = e.Message.StartsWith(FileName + ":", StringComparison.Ordinal)
            ? Math.Max(0, e.Message.IndexOf(": ", FileName.Length, StringComparison.Ordinal) + 2)
            : 0;
        TextChecks.Printable("message", $"{e.GetType().Name}'s message", e.Message, prefixChars: prefix);
    }

    private static bool IsHeavy(ScenarioCommand command) =>
        command.Verb is ScenarioVerb.Dump
        || (command.Verb is ScenarioVerb.Madvise && command.Advice is MadviseAdvice.PopulateRead or MadviseAdvice.PopulateWrite);
}

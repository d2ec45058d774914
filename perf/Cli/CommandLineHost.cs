using System;
using System.Collections.Generic;
using System.CommandLine;
using System.CommandLine.Parsing;
using System.Linq;
using System.Text.RegularExpressions;
using LargeFolios.FaultPath;

namespace LargeFolios.Folios.Cli;

/// <summary>
/// Parses and runs a command line: a malformed one is reported on standard error, one line per
/// problem naming the bad value and what was expected, with exit status 2 and nothing run
/// (System.CommandLine's own handler would print the whole help and exit 1).
/// </summary>
internal static partial class CommandLineHost
{
    /// <summary>Runs <paramref name="args"/> against <paramref name="root"/>, writing to <paramref name="console"/>.</summary>
    /// <returns>The command's exit status, or <see cref="ExitCodes.Usage"/> for a malformed command line.</returns>
    public static int Invoke(RootCommand root, string[] args, CliConsole console)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(console);
        try
        {
            ParseResult parsed = Parse(root, args);
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

    /// <summary>Parses <paramref name="args"/> as <see cref="Invoke"/> does, running nothing.</summary>
    /// <remarks>No response files: "@FILE" would make the parser read any file (or directory) a word
    /// names, and throw what reading it throws; here it is a word like any other.</remarks>
    public static ParseResult Parse(RootCommand root, string[] args) =>
        root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });

    private static int ReportErrors(ParseResult parsed, CliConsole console)
    {
        HashSet<string> flagValues = BadFlagValues(parsed, console);
        foreach (ParseError error in parsed.Errors.DistinctBy(e => e.Message))
        {
            if (UnmatchedToken(error) is { } token && flagValues.Contains(token))
                continue;   // said above, naming its switch
            console.Error.WriteLine($"folios: {QuoteTokens(error.Message)}");
        }

        Command command = parsed.CommandResult.Command;
        string path = command is RootCommand ? "folios" : $"folios {command.Name}";
        if (command.Subcommands.Count > 0)
            console.Error.WriteLine($"Commands: {string.Join(", ", command.Subcommands.Select(c => c.Name))}; no command runs the main job.");
        console.Error.WriteLine($"See '{path} --help'.");
        return ExitCodes.Usage;
    }

    /// <summary>
    /// Words that follow a switch (<see cref="CliOptions.Flag"/>) and are not true or false: the
    /// parser leaves them unmatched, and would call them an unknown argument without naming the
    /// switch. Each is reported here, as the switch's error.
    /// </summary>
    private static HashSet<string> BadFlagValues(ParseResult parsed, CliConsole console)
    {
        var reported = new HashSet<string>(StringComparer.Ordinal);
        IReadOnlyList<Token> tokens = parsed.Tokens;
        for (int i = 0; i + 1 < tokens.Count; i++)
        {
            if (tokens[i].Type != TokenType.Option || tokens[i + 1].Type != TokenType.Argument)
                continue;
            Option? option = parsed.CommandResult.Command.Options.FirstOrDefault(o => o.Name == tokens[i].Value || o.Aliases.Contains(tokens[i].Value));
            string word = tokens[i + 1].Value;
            if (option is Option<bool> && !bool.TryParse(word, out _) && parsed.UnmatchedTokens.Contains(word) && reported.Add(word))
                console.Error.WriteLine($"folios: {option.Name}: {EchoedText.Quote(word)} is not true or false; expected {option.Name}, {option.Name} true or {option.Name} false.");
        }

        return reported;
    }

    private static string? UnmatchedToken(ParseError error)
    {
        Match match = UnrecognizedToken().Match(error.Message);
        return match.Success ? match.Groups[1].Value : null;
    }

    /// <summary>The parser's own messages quote the user's words as '...': each is quoted again, cut and escaped.</summary>
    private static string QuoteTokens(string message) => QuotedWord().Replace(message, match => EchoedText.Quote(match.Groups[1].Value));

    [GeneratedRegex("^Unrecognized command or argument '(.*)'\\.$", RegexOptions.Singleline)]
    private static partial Regex UnrecognizedToken();

    [GeneratedRegex("'([^']*)'", RegexOptions.Singleline)]
    private static partial Regex QuotedWord();
}

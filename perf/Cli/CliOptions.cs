using System;
using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Linq;
using LargeFolios.FaultPath;

namespace LargeFolios.Folios.Cli;

/// <summary>
/// Builders for the kinds of option the commands share, each with the parsing and range checks
/// that turn a bad value into a message naming it and what was expected.
/// </summary>
internal static class CliOptions
{
    /// <summary>A size in bytes (<see cref="ByteSize"/>), checked by <paramref name="check"/> (null: fine; else what was expected).</summary>
    public static Option<ByteSize> Size(string name, string? alias, long defaultBytes, string description, Func<long, string?>? check = null) =>
        new(name, Aliases(alias))
        {
            Description = description,
            HelpName = "SIZE",
            DefaultValueFactory = _ => new ByteSize(defaultBytes),
            CustomParser = result => new ByteSize(ParseSize(result, name, check)),
        };

    /// <summary>As <see cref="Size"/>, with no default: absent, its value is null.</summary>
    public static Option<ByteSize?> OptionalSize(string name, string? alias, string description, Func<long, string?>? check = null) =>
        new(name, Aliases(alias))
        {
            Description = description,
            HelpName = "SIZE",
            CustomParser = result => new ByteSize(ParseSize(result, name, check)),
        };

    /// <summary>A whole number from <paramref name="min"/> to <paramref name="max"/>.</summary>
    public static Option<int> Count(string name, string? alias, int defaultValue, int min, int max, string noun, string description) =>
        new(name, Aliases(alias))
        {
            Description = description,
            HelpName = "N",
            DefaultValueFactory = _ => defaultValue,
            CustomParser = result => ParseCount(result, name, min, max, noun),
        };

    /// <summary>As <see cref="Count"/>, with no default: absent, its value is null.</summary>
    public static Option<int?> OptionalCount(string name, string? alias, int min, int max, string noun, string description) =>
        new(name, Aliases(alias))
        {
            Description = description,
            HelpName = "N",
            CustomParser = result => ParseCount(result, name, min, max, noun),
        };

    /// <summary>
    /// A switch that may also be written <c>--name true</c> or <c>--name false</c>; any other word
    /// after it is an error naming the option, not a stray argument.
    /// </summary>
    public static Option<bool> Flag(string name, bool defaultValue, string description) =>
        new(name)
        {
            Description = description,
            HelpName = "true|false",
            Arity = ArgumentArity.ZeroOrOne,
            DefaultValueFactory = _ => defaultValue,
            CustomParser = result => ParseFlag(result, name),
        };

    /// <summary>
    /// A file to write or read: an empty name is an error, and with <paramref name="extension"/>
    /// (".png") so is a name that does not end in it, for a file whose format the name announces.
    /// </summary>
    public static Option<string?> File(string name, string? alias, string helpName, string description, string? defaultPath = null, string? extension = null)
    {
        var option = new Option<string?>(name, Aliases(alias))
        {
            Description = description,
            HelpName = helpName,
            CustomParser = result => ParseFile(result, name, extension),
        };
        if (defaultPath != null)
            option.DefaultValueFactory = _ => defaultPath;
        return option;
    }

    /// <summary>One of an enum's values, written in lower case on the command line and in help; absent, null.</summary>
    public static Option<T?> Choice<T>(string name, string? alias, string description)
        where T : struct, Enum =>
        new(name, Aliases(alias))
        {
            Description = description,
            HelpName = string.Join('|', ChoiceNames<T>()),
            CustomParser = result => ParseChoice<T>(result, name),
        };

    /// <summary>Parses the single token of <paramref name="result"/> as one of <typeparamref name="T"/>'s names, in any case.</summary>
    public static T ParseChoice<T>(ArgumentResult result, string what)
        where T : struct, Enum
    {
        ArgumentNullException.ThrowIfNull(result);
        if (result.Tokens.Count == 0)
            return default;
        string text = result.Tokens[0].Value;
        if (!text.All(char.IsAsciiLetter) || !Enum.TryParse(text, ignoreCase: true, out T value))
        {
            result.AddError($"{what}: {EchoedText.Quote(text)} is not one of {string.Join(", ", ChoiceNames<T>())}.");
            return default;
        }

        return value;
    }

    /// <summary>An enum's values as the command line spells them: sequential, hugepage.</summary>
    public static string[] ChoiceNames<T>()
        where T : struct, Enum => Enum.GetNames<T>().Select(n => n.ToLowerInvariant()).ToArray();

    private static long ParseSize(ArgumentResult result, string name, Func<long, string?>? check)
    {
        if (result.Tokens.Count == 0)
            return 0;
        string text = result.Tokens[0].Value;
        if (!ByteSize.TryParse(text, out long bytes))
        {
            result.AddError($"{name}: {EchoedText.Quote(text)} is not a size; expected {ByteSize.Expected}.");
            return 0;
        }

        if (check?.Invoke(bytes) is { } expected)
            result.AddError($"{name}: {EchoedText.Quote(text)} is out of range; expected {expected}.");
        return bytes;
    }

    private static int ParseCount(ArgumentResult result, string name, int min, int max, string noun)
    {
        if (result.Tokens.Count == 0)
            return 0;
        string text = result.Tokens[0].Value;
        if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int value) || value < min || value > max)
            result.AddError($"{name}: {EchoedText.Quote(text)} is not {noun}; expected a whole number from {min} to {max}.");
        return value;
    }

    private static bool ParseFlag(ArgumentResult result, string name)
    {
        if (result.Tokens.Count == 0)
            return true;   // the bare switch
        string text = result.Tokens[0].Value;
        if (bool.TryParse(text, out bool value))
            return value;
        result.AddError($"{name}: {EchoedText.Quote(text)} is not true or false; expected {name}, {name} true or {name} false.");
        return false;
    }

    private static string? ParseFile(ArgumentResult result, string name, string? extension)
    {
        if (result.Tokens.Count == 0)
            return null;
        string text = result.Tokens[0].Value;
        if (string.IsNullOrWhiteSpace(text))
            result.AddError($"{name}: the file name is empty; expected a file{(extension == null ? "" : " ending in " + extension)}.");
        else if (extension != null && !text.EndsWith(extension, StringComparison.OrdinalIgnoreCase))
            result.AddError($"{name}: {EchoedText.Quote(text)} does not end in {extension}; expected a {extension} file name (the file is written in that format).");
        return text;
    }

    private static string[] Aliases(string? alias) => alias == null ? [] : [alias];
}

using System;
using System.Diagnostics;
using System.Linq;
using System.Reflection;
using System.Text;

namespace LargeFolios.Fuzz.Engine;

/// <summary>An input that broke a check, and what it broke.</summary>
/// <param name="Target">The target's name.</param>
/// <param name="Id">The check, and its detail (an exception type) after a colon: what <c>FOLIOS_FUZZ_SKIP</c> matches.</param>
/// <param name="Where">The top frame of the repository's code where the exception came from, or "".</param>
/// <param name="Message">What was wrong.</param>
/// <param name="Detail">The exception with its stack, when there was one.</param>
/// <param name="Input">The input.</param>
public sealed record Finding(string Target, string Id, string Where, string Message, string Detail, byte[] Input)
{
    /// <summary>The check broken.</summary>
    public string Check => Id.Split(':', 2)[0];

    /// <summary>What makes two findings the same: the id and the frame.</summary>
    public string Key => Where.Length == 0 ? Id : $"{Id} at {Where}";

    /// <summary>Where the input was saved, when it was.</summary>
    public string? SavedAs { get; set; }

    /// <summary>The finding an exception that escaped <paramref name="target"/>'s run stands for.</summary>
    public static Finding FromException(string target, Exception exception, byte[] input)
    {
        ArgumentNullException.ThrowIfNull(exception);
        if (exception is FindingException finding)
        {
            Exception cause = finding.InnerException ?? finding;
            string where = finding.Where ?? (finding.InnerException is null ? "" : TopFrame(cause));
            return new Finding(target, finding.Id, where, finding.Message, finding.InnerException?.ToString() ?? "", input);
        }

        string type = exception.GetType().FullName ?? exception.GetType().Name;
        return new Finding(target, $"exception:{type}", TopFrame(exception), $"{type} is not a documented exception of the {target} target: {exception.Message}", exception.ToString(), input);
    }

    /// <summary>
    /// The first frame of the repository's code (outside the harness) in the exception's stack; else
    /// the first outside the core library (whose inlining changes with tiered compilation, so its top
    /// frame is not a stable name); else the first.
    /// </summary>
    public static string TopFrame(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        MethodBase[] methods = new StackTrace(exception, fNeedFileInfo: false).GetFrames()
            .Select(f => f.GetMethod()).OfType<MethodBase>().ToArray();
        MethodBase? method = methods
            .FirstOrDefault(m => m.DeclaringType?.FullName is { } name && name.StartsWith("LargeFolios.", StringComparison.Ordinal) && !name.StartsWith("LargeFolios.Fuzz", StringComparison.Ordinal))
            ?? methods.FirstOrDefault(m => m.Module.Assembly != typeof(object).Assembly)
            ?? methods.FirstOrDefault();
        return method is null ? "" : $"{method.DeclaringType?.FullName}.{method.Name}";
    }

    /// <summary>The finding as a report: the id, the frame, the message, the stack.</summary>
    public string Describe()
    {
        var text = new StringBuilder();
        text.Append("target: ").AppendLine(Target);
        text.Append("finding: ").AppendLine(Id);
        if (Where.Length > 0)
            text.Append("at: ").AppendLine(Where);
        text.Append("input: ").Append(Input.Length).Append(" bytes").AppendLine(SavedAs is null ? "" : $", saved as {SavedAs}");
        text.AppendLine(Message);
        if (Detail.Length > 0)
            text.AppendLine(Detail);
        return text.ToString();
    }
}

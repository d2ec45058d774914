using System;

namespace LargeFolios.Fuzz;

/// <summary>
/// A target's input broke one of the harness's properties. <see cref="Check"/> names the property
/// (the name <c>FOLIOS_FUZZ_SKIP</c> takes); the message says what was wrong.
/// </summary>
public sealed class FindingException : Exception
{
    /// <summary>Creates the exception.</summary>
    public FindingException(string check, string message, Exception? innerException = null, string? detail = null, string? where = null)
        : base(message, innerException)
    {
        Check = check;
        Detail = detail;
        Where = where;
    }

    /// <summary>Creates the exception with a default message.</summary>
    public FindingException()
        : this("finding", "A fuzz finding.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public FindingException(string message)
        : this("finding", message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public FindingException(string message, Exception innerException)
        : this("finding", message, innerException)
    {
    }

    /// <summary>The property broken: exception, message, endless-line, validate, truncation, garbage, output, unhandled, exit-code, hang, memory.</summary>
    public string Check { get; }

    /// <summary>What tells this finding from others of its check (an exception type), or null.</summary>
    public string? Detail { get; }

    /// <summary>Where in the code under test it happened, when the harness knows better than the inner exception's stack.</summary>
    public string? Where { get; }

    /// <summary>The finding's id: the check, and the detail after a colon when there is one.</summary>
    public string Id => Detail is null ? Check : $"{Check}:{Detail}";
}

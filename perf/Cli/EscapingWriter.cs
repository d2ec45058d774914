using System;
using System.IO;
using System.Text;

namespace LargeFolios.Folios.Cli;

/// <summary>
/// Standard error as the tool writes it: whatever a message carries from its input (a file name
/// in .NET's own exception text, a path the user typed) reaches the terminal with its control
/// characters escaped (<see cref="FaultPath.EchoedText.EscapeControls"/>), so no message is ever an
/// instruction to the terminal. Line ends pass through.
/// </summary>
internal sealed class EscapingWriter(TextWriter inner) : TextWriter
{
    /// <inheritdoc/>
    public override Encoding Encoding => inner.Encoding;

    /// <inheritdoc/>
    public override string NewLine
    {
        get => inner.NewLine;
#pragma warning disable CS8765 // TextWriter's own setter allows null
        set => inner.NewLine = value;
#pragma warning restore CS8765
    }

    /// <inheritdoc/>
    public override void Write(char value) => inner.Write(FaultPath.EchoedText.EscapeControls([value]));

    /// <inheritdoc/>
    public override void Write(string? value)
    {
        if (value != null)
            inner.Write(FaultPath.EchoedText.EscapeControls(value));
    }

    /// <inheritdoc/>
    public override void Write(char[] buffer, int index, int count) => inner.Write(FaultPath.EchoedText.EscapeControls(buffer.AsSpan(index, count)));

    /// <inheritdoc/>
    public override void WriteLine(string? value)
    {
        Write(value);
        inner.WriteLine();
    }

    /// <inheritdoc/>
    public override void Flush() => inner.Flush();
}

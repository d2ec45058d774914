using System;
using System.IO;

namespace LargeFolios.Fuzz.Targets;

/// <summary>
/// The input's bytes, then NUL bytes without end, as <c>/dev/zero</c> gives them: what a reader
/// gets from a file that never ends a line. It hands out at most <see cref="Budget"/> bytes past
/// the input and then throws <see cref="EndlessStreamExhaustedException"/>, so a reader with no
/// bound on a line stops there instead of growing until the machine has no memory left.
/// </summary>
internal sealed class EndlessStream(byte[] prefix) : Stream
{
    /// <summary>
    /// The bytes of the endless line a reader may take before the harness calls its line unbounded:
    /// 16 MiB, a line no scenario writer means and far above any sensible line limit.
    /// </summary>
    public const long Budget = 16L << 20;

    private long _position;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty)
            return 0;
        if (_position < prefix.Length)
        {
            int n = (int)Math.Min(buffer.Length, prefix.Length - _position);
            prefix.AsSpan((int)_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }

        if (_position - prefix.Length >= Budget)
            throw new EndlessStreamExhaustedException();
        int zeros = (int)Math.Min(buffer.Length, Budget - (_position - prefix.Length));
        buffer[..zeros].Clear();
        _position += zeros;
        return zeros;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

/// <summary>The reader took <see cref="EndlessStream.Budget"/> bytes of an endless line and still wanted more.</summary>
internal sealed class EndlessStreamExhaustedException : Exception
{
    public EndlessStreamExhaustedException()
        : base($"read {EndlessStream.Budget >> 20} MiB of a line that never ends")
    {
    }

    public EndlessStreamExhaustedException(string message)
        : base(message)
    {
    }

    public EndlessStreamExhaustedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

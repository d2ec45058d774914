using System;
using System.IO;

namespace LargeFolios.FaultPath;

/// <summary>
/// <see cref="TextReader.ReadLine"/> with a bound: a line longer than the limit is reported, not
/// read, so a file with no newline (<c>/dev/zero</c>, a binary) costs at most the limit in memory,
/// not the whole file. Lines end as <see cref="TextReader.ReadLine"/> ends them: <c>\n</c>,
/// <c>\r\n</c> or a lone <c>\r</c>.
/// </summary>
internal sealed class BoundedLineReader
{
    private readonly TextReader _reader;
    private readonly int _maxLength;
    private readonly char[] _buffer;
    private int _start;
    private int _end;
    private bool _atEnd;
    private bool _skipLineFeed;

    /// <summary>Reads lines of at most <paramref name="maxLength"/> characters from <paramref name="reader"/>.</summary>
    public BoundedLineReader(TextReader reader, int maxLength)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxLength);
        _reader = reader;
        _maxLength = maxLength;
        _buffer = new char[Math.Max(maxLength + 1, 4096)];
    }

    /// <summary>The next line, without its terminator.</summary>
    /// <returns>False at the end of the text, and when the line is longer than the limit
    /// (<paramref name="tooLong"/> then true; nothing more should be read).</returns>
    public bool TryReadLine(out string? line, out bool tooLong)
    {
        line = null;
        tooLong = false;
        int scanned = 0;
        while (true)
        {
            if (_skipLineFeed && _start < _end)
            {
                if (_buffer[_start] == '\n')
                    _start++;
                _skipLineFeed = false;
            }

            ReadOnlySpan<char> pending = _buffer.AsSpan(_start, _end - _start);
            int stop = pending[scanned..].IndexOfAny('\n', '\r');
            if (stop >= 0)
            {
                stop += scanned;
                if (stop > _maxLength)
                {
                    tooLong = true;
                    return false;
                }

                line = new string(pending[..stop]);
                _skipLineFeed = pending[stop] == '\r';
                _start += stop + 1;
                return true;
            }

            scanned = pending.Length;
            if (scanned > _maxLength)
            {
                tooLong = true;
                return false;
            }

            if (_atEnd)
            {
                if (scanned == 0)
                    return false;
                line = new string(pending);
                _start = _end;
                return true;
            }

            Fill();
        }
    }

    /// <summary>Moves what is pending to the front of the buffer and reads after it.</summary>
    private void Fill()
    {
        int pending = _end - _start;
        if (_start > 0)
        {
            Array.Copy(_buffer, _start, _buffer, 0, pending);
            _start = 0;
            _end = pending;
        }

        int read = _reader.Read(_buffer, _end, _buffer.Length - _end);
        if (read == 0)
            _atEnd = true;
        _end += read;
    }
}

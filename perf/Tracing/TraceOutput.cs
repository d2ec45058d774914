using System;
using System.IO;
using System.Threading.Tasks;

namespace LargeFolios.Folios.Tracing;

/// <summary>
/// The <c>.nettrace</c> a session writes: created (with its directory) before anything is started,
/// and removed again on disposal unless <see cref="Keep"/> was called, so a session that never
/// started leaves no empty file behind.
/// </summary>
internal sealed class TraceOutput : IAsyncDisposable
{
    private readonly string _path;
    private bool _keep;
    private Exception? _failure;

    private TraceOutput(string path, FileStream stream)
    {
        _path = path;
        Stream = stream;
    }

    private FileStream Stream { get; }

    /// <summary>
    /// Copies <paramref name="events"/> into the file until the stream ends. A write that fails
    /// does not end the copy: the rest of the stream is read and dropped, because a session whose
    /// stream is not read blocks the runtime that writes it (a traced child would hang at its next
    /// event, and this process's own session at its stop command). The failure is thrown by
    /// <see cref="CompleteAsync"/>.
    /// </summary>
    public async Task CopyFromAsync(Stream events)
    {
        ArgumentNullException.ThrowIfNull(events);
        byte[] buffer = new byte[1 << 16];
        int read;
        while ((read = await events.ReadAsync(buffer)) > 0)
        {
            if (_failure != null)
                continue;
            try
            {
                await Stream.WriteAsync(buffer.AsMemory(0, read));
            }
            catch (Exception e) when (IsWriteFailure(e))
            {
                _failure = e;
            }
        }
    }

    /// <summary>Flushes the file once <see cref="CopyFromAsync"/> has finished.</summary>
    /// <exception cref="TraceOutputException">A write or the flush failed; the message names the file and why.</exception>
    public async Task CompleteAsync()
    {
        if (_failure == null)
        {
            try
            {
                await Stream.FlushAsync();
            }
            catch (Exception e) when (IsWriteFailure(e))
            {
                _failure = e;
            }
        }

        if (_failure != null)
            throw new TraceOutputException($"{_path}: cannot write the trace: {_failure.Message.ReplaceLineEndings(" ")}", _failure);
    }

    /// <summary>Creates (or empties) the file at <paramref name="path"/>.</summary>
    /// <exception cref="TraceOutputException">It cannot be written; the message names it and why.</exception>
    public static TraceOutput Create(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (string.IsNullOrWhiteSpace(path))
            throw new TraceOutputException("\"\": cannot write the trace: the file name is empty");
        if (Directory.Exists(path))
            throw new TraceOutputException($"{path}: cannot write the trace: it is a directory; expected a file name such as {Path.Combine(path, "folios.nettrace")}");
        try
        {
            string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
            if (directory != null)
                Directory.CreateDirectory(directory);
            return new TraceOutput(path, new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 16, useAsync: true));
        }
        catch (UnauthorizedAccessException denied)
        {
            throw new TraceOutputException($"{path}: cannot write the trace: permission denied", denied);
        }
        catch (Exception e) when (e is IOException or NotSupportedException or ArgumentException)
        {
            throw new TraceOutputException($"{path}: cannot write the trace: {e.Message.ReplaceLineEndings(" ")}", e);
        }
    }

    private static bool IsWriteFailure(Exception e) => e is IOException or UnauthorizedAccessException or NotSupportedException;

    /// <summary>The session started: the file is the trace, whatever happens next.</summary>
    public void Keep() => _keep = true;

    /// <summary>Closes the file, and removes it unless it was kept.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await Stream.DisposeAsync();
        }
        catch (Exception e) when (IsWriteFailure(e))
        {
            // Only bytes a failed write left in the buffer; CompleteAsync reported the failure.
        }

        if (!_keep)
        {
            try
            {
                File.Delete(_path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // A file that cannot be removed was created by us a moment ago: left as it is.
            }
        }
    }
}

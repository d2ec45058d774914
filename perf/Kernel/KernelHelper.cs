using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text;

namespace LargeFolios.Folios.Kernel;

/// <summary>
/// The native helper (perf/Native/kernel-helper.c, built beside folios as
/// <see cref="FileName"/>) that runs a scenario's processes on the running kernel: a broker on
/// standard input and output, and a worker process per scenario process, forked as the scenario
/// forks. A request is one line naming the process; the answer is zero or more data lines (a
/// dump's runs, each starting "0x") and one final line (ok, errno, segv, own, died, fail).
/// </summary>
internal sealed class KernelHelper : IDisposable
{
    /// <summary>The helper's file name, beside folios.dll.</summary>
    public const string FileName = "folios-kernel-helper";

    /// <summary>The protocol this side speaks (the helper's HELPER_VERSION).</summary>
    public const int ProtocolVersion = 1;

    private readonly Process _process;
    private readonly StringBuilder _stderr = new();
    private bool _disposed;

    private KernelHelper(Process process)
    {
        _process = process;
        _process.ErrorDataReceived += (_, line) =>
        {
            if (line.Data != null)
            {
                lock (_stderr)
                {
                    if (_stderr.Length < 4096)
                        _stderr.AppendLine(line.Data);
                }
            }
        };
        _process.BeginErrorReadLine();
    }

    /// <summary>Where the helper should be: beside the tool's assembly.</summary>
    public static string DefaultPath => Path.Combine(AppContext.BaseDirectory, FileName);

    /// <summary>Why the helper cannot be run from <paramref name="path"/>, or null.</summary>
    public static string? WhyUnavailable(string path)
    {
        if (!File.Exists(path))
        {
            return $"it needs its native helper {path}, which is built with folios where gcc is installed; " +
                "install gcc (apt-get install gcc) and build again (dotnet build perf)";
        }

        if (OperatingSystem.IsLinux())
        {
            UnixFileMode mode = File.GetUnixFileMode(path);
            if ((mode & UnixFileMode.UserExecute) == 0)
            {
                try
                {
                    File.SetUnixFileMode(path, mode | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
                }
                catch (Exception failed) when (failed is IOException or UnauthorizedAccessException)
                {
                    return $"its native helper {path} is not executable and cannot be made so ({failed.Message})";
                }
            }
        }

        return null;
    }

    /// <summary>Starts the helper and waits for its <c>ready</c> line.</summary>
    /// <exception cref="KernelSideException">It did not start, or answered something else.</exception>
    public static KernelHelper Start(string path)
    {
        var start = new ProcessStartInfo(path)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.ASCII,
        };
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new KernelSideException($"cannot start {path}");
        }
        catch (System.ComponentModel.Win32Exception failed)
        {
            throw new KernelSideException($"cannot start {path}: {failed.Message}", failed);
        }

        process.StandardInput.NewLine = "\n";
        process.StandardInput.AutoFlush = true;
        var helper = new KernelHelper(process);
        string? ready = process.StandardOutput.ReadLine();
        string[] words = ready?.Split(' ') ?? [];
        if (words.Length < 2 || words[0] != "ready" || words[1] != ProtocolVersion.ToString(System.Globalization.CultureInfo.InvariantCulture))
        {
            helper.Dispose();
            throw new KernelSideException($"{path} did not start as expected (it said {EchoedLine(ready)}{helper.StandardError()})");
        }

        return helper;
    }

    /// <summary>
    /// Sends one request for process <paramref name="process"/> and reads its answer: the data lines
    /// into <paramref name="data"/> (when given), the final line returned.
    /// </summary>
    /// <exception cref="KernelSideException">The helper went away.</exception>
    public string Request(int process, string request, List<string>? data = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        try
        {
            _process.StandardInput.WriteLine($"{process} {request}");
        }
        catch (IOException failed)
        {
            throw new KernelSideException($"the native helper stopped{StandardError()}", failed);
        }

        while (true)
        {
            string? line = _process.StandardOutput.ReadLine()
                ?? throw new KernelSideException($"the native helper stopped while running \"{request}\"{StandardError()}");
            if (!line.StartsWith("0x", StringComparison.Ordinal))
                return line;
            data?.Add(line);
        }
    }

    /// <summary>Ends the helper: end of input makes the broker exit, and every worker with it; one that lingers is killed.</summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        try
        {
            _process.StandardInput.Close();
            if (!_process.WaitForExit(10_000))
                _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
        catch (Exception failed) when (failed is IOException or InvalidOperationException)
        {
            // already gone
        }

        _process.Dispose();
    }

    private string StandardError()
    {
        lock (_stderr)
            return _stderr.Length == 0 ? "" : $": {_stderr.ToString().Trim().ReplaceLineEndings(" ")}";
    }

    private static string EchoedLine(string? line) => line == null ? "nothing" : FaultPath.EchoedText.Quote(line);
}

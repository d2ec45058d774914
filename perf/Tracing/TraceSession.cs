using System;
using System.Diagnostics;
using System.Diagnostics.Tracing;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using LargeFolios.BuddyAllocator;
using LargeFolios.FaultPath;
using LargeFolios.PageTables;
using Microsoft.Diagnostics.NETCore.Client;

namespace LargeFolios.Folios.Tracing;

/// <summary>
/// Collects a <c>.nettrace</c> of the library's providers (LargeFolios-Allocator,
/// LargeFolios-PageTables, LargeFolios-FaultPath), either of this process or of a child process,
/// through the runtime's diagnostic port (Microsoft.Diagnostics.NETCore.Client, the library
/// dotnet-trace is built on).
/// </summary>
/// <remarks>
/// A child is started suspended (<c>DOTNET_DefaultDiagnosticPortSuspend=1</c>: the runtime waits
/// on its diagnostic port before running any managed code), the session is started, and only then
/// is the runtime resumed, so no event of the workload is lost. The session ends when the child
/// exits and its stream is drained.
/// </remarks>
internal static class TraceSession
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Traces <paramref name="workload"/> run in this process.</summary>
    /// <returns>What <paramref name="workload"/> returned.</returns>
    /// <exception cref="TraceOutputException">The trace file cannot be written; the workload did not run.</exception>
    /// <exception cref="TraceSessionException">No session could be opened on this process; the workload did not run and no file is left.</exception>
    public static async Task<T> InProcessAsync<T>(TraceSettings settings, Func<T> workload)
    {
        await using TraceOutput output = TraceOutput.Create(settings.OutputPath);
        var client = new DiagnosticsClient(Environment.ProcessId);
        EventPipeSession session;
        try
        {
            session = client.StartEventPipeSession(settings.ToConfiguration());
        }
        catch (Exception failure) when (IsSessionFailure(failure))
        {
            throw new TraceSessionException($"could not open a session on this process: {failure.Message}{DiagnosticsHint()}", failure);
        }

        using EventPipeSession owned = session;
        Task copy = output.CopyFromAsync(session.EventStream);

        // The runtime enables the providers before the start command returns; the wait only guards
        // against a provider that refused the session (it would log why to the trace).
        EventSource[] sources = [.. settings.Providers.Select(provider => Source(provider.Provider))];
        SpinWait.SpinUntil(() => sources.All(source => source.IsEnabled()), TimeSpan.FromSeconds(5));
        output.Keep();
        try
        {
            return workload();
        }
        finally
        {
            session.Stop();
            await copy;
            await output.CompleteAsync();
        }
    }

    /// <summary>Starts <paramref name="child"/> suspended, traces it until it exits, and returns its exit status.</summary>
    /// <remarks>
    /// The file is created before the child is started, so a file that cannot be written costs no
    /// child. Once started, the child is killed on every way out but its own exit: a suspended
    /// runtime waits for its resume command forever, and a child left behind keeps the caller's
    /// standard output open (<c>folios trace ... | tail</c> would never return).
    /// </remarks>
    /// <exception cref="TraceOutputException">The trace file cannot be written (no child was started), or stopped taking bytes (the child ran to its end).</exception>
    /// <exception cref="TraceSessionException">The child could not be started, or no session could be opened on it; the child is killed and no file is left.</exception>
    public static async Task<int> ChildAsync(TraceSettings settings, ProcessStartInfo child)
    {
        await using TraceOutput output = TraceOutput.Create(settings.OutputPath);
        child.Environment["DOTNET_DefaultDiagnosticPortSuspend"] = "1";
        child.UseShellExecute = false;
        Process process;
        try
        {
            process = Process.Start(child) ?? throw new InvalidOperationException($"Could not start {child.FileName}.");
        }
        catch (Exception failure) when (IsSessionFailure(failure))
        {
            throw new TraceSessionException($"could not start {child.FileName}: {failure.Message}", failure);
        }

        using Process owned = process;

        // Killed or interrupted itself, this process would leave the child suspended for ever:
        // each of these signals ends the child first, then does what it would have done.
        using PosixSignalRegistration onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => End(process));
        using PosixSignalRegistration onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => End(process));
        using PosixSignalRegistration onHup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, _ => End(process));
        try
        {
            EventPipeSession session;
            DiagnosticsClient client;
            try
            {
                await WaitForDiagnosticPortAsync(process);
                client = new DiagnosticsClient(process.Id);
                session = await client.StartEventPipeSessionAsync(settings.ToConfiguration(), CancellationToken.None);
            }
            catch (Exception failure) when (IsSessionFailure(failure))
            {
                throw new TraceSessionException($"could not trace the child process {process.Id}: {failure.Message}{DiagnosticsHint()}", failure);
            }

            using EventPipeSession owned2 = session;
            Task copy = output.CopyFromAsync(session.EventStream);
            output.Keep();
            client.ResumeRuntime();
            await process.WaitForExitAsync();
            await copy;
            await output.CompleteAsync();
            return process.ExitCode;
        }
        finally
        {
            End(process);
        }
    }

    /// <summary>Kills <paramref name="process"/> and what it started, unless it has exited.</summary>
    private static void End(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(TimeSpan.FromSeconds(5));
            }
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // Exited between the check and the kill.
        }
    }

    /// <summary>This process's instance of the provider named <paramref name="provider"/>, created now if the workload has not yet.</summary>
    private static EventSource Source(string provider) => provider switch
    {
        AllocatorEventSource.ProviderName => AllocatorEventSource.Log,
        PageTableEventSource.ProviderName => PageTableEventSource.Log,
        FaultPathEventSource.ProviderName => FaultPathEventSource.Log,
        _ => throw new ArgumentOutOfRangeException(nameof(provider), provider, "Not one of the library's providers."),
    };

    /// <summary>What can go wrong between starting a child and reading its first event: none of it is the workload's doing.</summary>
    private static bool IsSessionFailure(Exception failure) =>
        failure is ServerNotAvailableException or UnsupportedCommandException or TimeoutException or OperationCanceledException
            or InvalidOperationException or System.ComponentModel.Win32Exception or IOException;

    /// <summary>The likeliest reason a runtime has no diagnostic port, when it applies.</summary>
    private static string DiagnosticsHint() =>
        Environment.GetEnvironmentVariable("DOTNET_EnableDiagnostics") == "0"
            ? " (DOTNET_EnableDiagnostics=0 is set: the runtime opens no diagnostic port)"
            : "";

    /// <summary>Waits until the suspended child's runtime has opened its diagnostic port (a socket named after its process id).</summary>
    private static async Task WaitForDiagnosticPortAsync(Process process)
    {
        var waited = Stopwatch.StartNew();
        while (!DiagnosticsClient.GetPublishedProcesses().Contains(process.Id))
        {
            if (process.HasExited)
                throw new InvalidOperationException($"The child exited (status {process.ExitCode}) before its runtime opened a diagnostic port.");
            if (waited.Elapsed > ConnectTimeout)
                throw new TimeoutException($"The child's runtime opened no diagnostic port in {ConnectTimeout.TotalSeconds:F0} s.");
            await Task.Delay(10);
        }
    }

    /// <summary>How to start this program again with <paramref name="arguments"/>: its own executable, or <c>dotnet folios.dll</c>.</summary>
    public static ProcessStartInfo Self(params string[] arguments)
    {
        string host = Environment.ProcessPath ?? throw new InvalidOperationException("The process has no path to start again.");
        var start = new ProcessStartInfo(host);
        if (Path.GetFileNameWithoutExtension(host).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
            start.ArgumentList.Add(typeof(TraceSession).Assembly.Location);
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        return start;
    }
}

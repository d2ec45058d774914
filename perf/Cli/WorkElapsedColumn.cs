using System;
using System.Collections.Generic;
using System.Globalization;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace LargeFolios.Folios.Cli;

/// <summary>
/// A progress bar's elapsed time from its <see cref="WorkProgress"/>'s own clock, not from when the
/// bar was drawn: bars appear a second into a job, and a part waiting its turn has no time yet.
/// </summary>
internal sealed class WorkElapsedColumn(IReadOnlyDictionary<int, WorkProgress> progressOf) : ProgressColumn
{
    /// <inheritdoc/>
    protected override bool NoWrap => true;

    /// <inheritdoc/>
    public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime)
    {
        if (!progressOf.TryGetValue(task.Id, out WorkProgress? progress) || !progress.Started)
            return new Text("--:--:--", Color.Grey);
        TimeSpan elapsed = progress.Elapsed;
        return new Text(((int)elapsed.TotalHours).ToString("00", CultureInfo.InvariantCulture) + elapsed.ToString(@"\:mm\:ss", CultureInfo.InvariantCulture), Color.Blue);
    }
}

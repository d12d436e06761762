package jcyme.bench;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.geom.Rectangle2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.ToDoubleFunction;
import javax.imageio.ImageIO;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/** The run's samples drawn over time as one PNG: tasks/s, queue depth, RSS and CPU per process. */
final class MillionPlot {
    static final int WIDTH = 1200;
    static final int PANEL_HEIGHT = 300;
    /** Distinct on white: the first line is the total (or the only one). */
    private static final Color[] PALETTE = {new Color(0xD62728), new Color(0x1F77B4), new Color(0x2CA02C), new Color(0xFF7F0E),
        new Color(0x9467BD), new Color(0x8C564B), new Color(0x17BECF)};

    private MillionPlot() {}

    /** Four charts, each with its own legend, stacked in one image on a shared time scale. */
    static void write(Path png, String title, List<MillionRun.Sample> samples, List<String> queues, List<String> processes)
            throws IOException {
        List<XYSeries> depth = new ArrayList<>(List.of(series("all queues", samples, MillionRun.Sample::depthTotal)));
        for (int q = 0; q < queues.size(); q++) {
            int index = q;
            depth.add(series(queues.get(q), samples, s -> s.depth()[index]));
        }
        double end = samples.isEmpty() ? 1 : samples.get(samples.size() - 1).seconds();
        List<JFreeChart> charts = List.of(
                chart(title + ": tasks/s completed", "tasks/s", List.of(series("tasks/s", samples, MillionRun.Sample::rate)), end),
                chart("queue depth", "messages", depth, end),
                chart("resident memory", "RSS (MiB)", perProcess(samples, processes, (s, p) -> s.rssMiB()[p]), end),
                chart("CPU", "% of one core", perProcess(samples, processes, (s, p) -> s.cpuPct()[p]), end));
        BufferedImage image = new BufferedImage(WIDTH, PANEL_HEIGHT * charts.size(), BufferedImage.TYPE_INT_RGB);
        Graphics2D graphics = image.createGraphics();
        for (int i = 0; i < charts.size(); i++) {
            charts.get(i).draw(graphics, new Rectangle2D.Double(0, i * PANEL_HEIGHT, WIDTH, PANEL_HEIGHT));
        }
        graphics.dispose();
        if (!ImageIO.write(image, "png", png.toFile())) {
            throw new IOException("no PNG writer");
        }
    }

    private interface PerProcess {
        double value(MillionRun.Sample sample, int process);
    }

    private static List<XYSeries> perProcess(List<MillionRun.Sample> samples, List<String> processes, PerProcess value) {
        List<XYSeries> all = new ArrayList<>();
        for (int p = 0; p < processes.size(); p++) {
            int index = p;
            all.add(series(processes.get(p), samples, s -> value.value(s, index)));
        }
        return all;
    }

    private static XYSeries series(String name, List<MillionRun.Sample> samples, ToDoubleFunction<MillionRun.Sample> value) {
        XYSeries series = new XYSeries(name, false, true);
        for (MillionRun.Sample sample : samples) {
            double y = value.applyAsDouble(sample);
            if (!Double.isNaN(y)) {
                series.add(sample.seconds(), y);
            }
        }
        return series;
    }

    private static JFreeChart chart(String title, String label, List<XYSeries> lines, double end) {
        XYSeriesCollection data = new XYSeriesCollection();
        lines.forEach(data::addSeries);
        NumberAxis axis = new NumberAxis(label);
        axis.setAutoRangeIncludesZero(true);
        XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer(true, false);
        for (int i = 0; i < lines.size(); i++) {
            renderer.setSeriesStroke(i, new BasicStroke(i == 0 ? 2.0f : 1.3f));
            renderer.setSeriesPaint(i, PALETTE[i % PALETTE.length]);
        }
        NumberAxis time = new NumberAxis("seconds");
        time.setRange(0, Math.max(1, end));
        XYPlot plot = new XYPlot(data, time, axis, renderer);
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        JFreeChart chart = new JFreeChart(title, new Font(Font.SANS_SERIF, Font.BOLD, 14), plot, true);
        chart.setBackgroundPaint(Color.WHITE);
        return chart;
    }
}
